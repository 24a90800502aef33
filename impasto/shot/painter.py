"""What paints a shot's frames: a `Painter` turns one display-referred picture into a painting at a given size.

Everything around it (plate colour, upscale, denoise, dissolve, alpha, writing, the manifest, resume) is the
shot renderer's and the same for every painter. Two painters exist: `GatysPainter` (the optimisation, here) and
the fast model's (`impasto.fast.hooks.FastPainter`); a farm or Ray worker uses whichever its renderer was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from impasto.api import render
from impasto.io.tensors import load_rgb
from impasto.look import Look
from impasto.objective.guides import Guides
from impasto.optim.solve import Converged

OnIteration = Callable[[int, int], None]


@dataclass
class Painted:
    """One painted picture: display-referred H×W×3 0-1 at the size asked for, and where and how fast it was made."""

    image: np.ndarray
    device: str
    seconds: float = 0.0
    loss: float | None = None  # the optimisation's final loss (None from a painter that does not optimise)
    iterations: int | None = None  # iterations the optimisation ran (None from a painter that does not optimise)


@runtime_checkable
class Painter(Protocol):
    """Paints display-referred frames of one look.

    `look_tag` is added to the shot's look hash: frames made by another kind of painter (a fast model) count as
    another look, so a version never mixes them silently; "" for the optimisation.
    """

    look_tag: str

    def paint(self, shown: np.ndarray, edge: int, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: OnIteration | None = None, guides: Guides | None = None,
              stop: Converged | None = None) -> Painted:
        """`shown` painted at long edge `edge`; `init` is content, noise, an image path or a picture (painters that
        do not optimise ignore it, `iterations`, `guides` and `stop`); `on_iteration(i, n)` is called as the
        painting goes; `guides` (regions, temporal targets) are at `shown`'s size; `stop` may end the optimisation
        once converged (`iterations` the cap)."""
        ...

    def close(self) -> None:
        """Free what the painter holds (models, targets)."""
        ...


class GatysPainter:
    """The optimisation (impasto.api.render) with a look whose seed is fixed, so every frame agrees."""

    look_tag = ""

    def __init__(self, look: Look, styles: list[Path] | list[np.ndarray], device: str = "auto") -> None:
        self.look = look
        self.styles = [s if isinstance(s, np.ndarray) else load_rgb(s, "style image") for s in styles]
        self.device = device

    def paint(self, shown: np.ndarray, edge: int, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: OnIteration | None = None, guides: Guides | None = None,
              stop: Converged | None = None) -> Painted:
        start = time.perf_counter()
        start_picture = init if isinstance(init, np.ndarray) else None
        update: dict[str, object] = {"size": edge, "init": "content" if start_picture is not None else init}
        if iterations is not None:
            update["iterations"] = iterations
        look = self.look.model_copy(update=update)
        progress = (lambda p: on_iteration(p.iteration, p.iterations)) if on_iteration else None
        result = render(shown, self.styles, look, device=self.device, progress=progress, init=start_picture,
                        guides=guides, stop=stop)
        loss = result.history[-1].loss if result.history else None
        done = result.history[-1].done if result.history else 0
        return Painted(result.image, result.device, time.perf_counter() - start, loss, done)

    def close(self) -> None:
        pass

    def __enter__(self) -> GatysPainter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
