"""A shot painted from a few keyframes: the shot layer's `Trainer` (impasto.shot.learned) made of `learn`.

`impasto render cs010.toml --learned 8` builds its renderer with a `ShotTrainer`: the shot's plan paints the
keyframes by the optimisation, runs its TRAIN task (this trainer learns a painter from them), and paints the other
frames with `LearnedPainter`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import UsageError
from impasto.fast.core import FastModel, load_model
from impasto.fast.hooks import one_pass
from impasto.fast.learn import Example, LearnSettings, is_learned, learn
from impasto.features.net import feature_net
from impasto.io.tensors import load_rgb
from impasto.shot.config import Shot
from impasto.shot.learned import KeyPicture
from impasto.shot.painter import OnIteration, Painted


class LearnedPainter:
    """A shot `Painter`: a painter learned from the shot's keyframes, at the look's u."""

    look_tag = ""  # its frames belong to the version (render.learned is in the look hash; entries name the painter)

    def __init__(self, model: FastModel, u: float, device: str = "auto") -> None:
        model.check_u([u])
        self.model, self.u, self.device = model, float(u), device

    def paint(self, shown: np.ndarray, edge: int, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: OnIteration | None = None, guides: object = None, stop: object = None) -> Painted:
        """One pass of the network (init, iterations, guides and stop are the optimisation's)."""
        return one_pass(self.model, self.u, self.device, shown, edge, on_iteration)

    def close(self) -> None:
        pass


class ShotTrainer:
    """Learns a painter of `shot`'s look from its keyframes (`impasto.shot.learned.Trainer`)."""

    def __init__(self, shot: Shot, settings: LearnSettings | None = None, device: str | None = None) -> None:
        self.shot = shot
        self.look, self.style_paths = shot.resolved_look()
        self.styles = [load_rgb(p, "style image") for p in self.style_paths]
        self.device = device or shot.render.device
        self.settings = settings or LearnSettings(device=self.device, **shot.learn.settings())  # type: ignore[arg-type]

    def train(self, pictures: Sequence[KeyPicture], u: float, output: Path,
              progress: Callable[[Any], None] | None = None) -> None:
        examples = [Example(p.shown, p.painted, u, f"{self.shot.name}@{p.frame}") for p in pictures]
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"Could not create the folder '{output.parent}' for the learned painter "
                             f"({exc.strerror or exc}).") from None
        learn(self.look, self.styles, examples, output, self.settings, style_paths=[str(p) for p in self.style_paths],
              sources={"shot": self.shot.name, "keyframes": [p.frame for p in pictures]}, progress=progress)

    def painter(self, path: Path) -> LearnedPainter:
        model = load_model(path)
        if not is_learned(model):
            raise UsageError(f"'{path}' is not a painter learned from keyframes.")
        origin = feature_net(self.look.network, self.look.weights, self.look.pooling, "cpu").origin
        model.check_style(self.styles, self.look, origin, f"shot {self.shot.name}'s look")
        return LearnedPainter(model, float(self.look.u), self.device)


__all__ = ["LearnedPainter", "ShotTrainer"]
