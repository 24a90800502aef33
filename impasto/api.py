"""The core API: `render` (the full record) and `stylize` (just the picture), and `evaluate_loss`."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from impasto.devices import resolve_device
from impasto.errors import ImpastoError, OutOfMemory, UsageError, validation_sentence
from impasto.features.precision import (
    explain_precision,
    precision_mode,
    resolve_precision,
)
from impasto.io.mattes import read_matte
from impasto.io.tensors import ImageLike, fit_size, load_rgb, resize, to_tensor
from impasto.look import Look
from impasto.objective.guides import Guides, Region, Temporal
from impasto.objective.objective import blend_weights, build_objective
from impasto.objective.regions import load_regions
from impasto.optim.memory import plan_tile
from impasto.optim.progress import Progress
from impasto.optim.solve import Converged
from impasto.optim.strategies import Sources, paint, paint_tiled

__all__ = ["Guides", "ImageLike", "Progress", "Region", "Result", "Temporal", "blend_weights", "evaluate_loss", "render", "stylize"]


@dataclass
class Result:
    """What `render` returns: the picture and the full record of how it was made.

    Attributes:
        image: the painting, float32 H×W×3 RGB in 0-1.
        look: the look as rendered, its seed filled in (an unseeded look records the seed it drew).
        ratio: the style-to-content ratio the final size used (10**u scaled by size, see u in the guides).
        weights_origin: where the VGG weights came from; u is comparable only within one origin.
        device: the device the render ran on (`cpu`, `cuda:0`, ...).
        seconds: wall time of the render.
        history: one `Progress` per iteration (each loss term, iteration, time).
        snapshots: iteration -> picture, for the iterations asked for in `render(snapshots=...)`.
        fp32_from: bf16 only: the iteration where its line search first stalled; fp32 from there on.
        precision: what the render ran in (`auto` resolved: fp32, tf32 or bf16).
        precision_reason: one line saying why that precision.
        warnings: about the look's regions (small or overlapping mattes).
    """

    image: np.ndarray  # float32 H×W×3 RGB in 0-1
    look: Look  # the look as rendered, seed filled in
    ratio: float
    weights_origin: str
    device: str
    seconds: float
    history: list[Progress] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    fp32_from: int | None = None  # bf16 only: where its line search first stalled; fp32 from there on
    precision: str = "fp32"  # what the render ran in ('auto' resolved)
    precision_reason: str = ""  # one line: why
    warnings: list[str] = field(default_factory=list)  # about the look's regions (small or overlapping mattes)


def _styles(style: ImageLike | Sequence[ImageLike]) -> list[ImageLike]:
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise UsageError("Give at least one style image.")
    return styles


def render(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    look: Look | None = None,
    *,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    snapshots: Iterable[int] = (),
    on_snapshot: Callable[[int, np.ndarray], None] | None = None,
    init: ImageLike | None = None,
    guides: Guides | None = None,
    stop: Converged | None = None,
) -> Result:
    """Stylise one image; the full record (look with its seed, losses per iteration, snapshots).

    `init` (a picture) is where the optimisation starts, in place of the look's init; `guides` hold regions
    (mattes with their own u and style) and temporal targets, at the content picture's size.

    `stop` (an `impasto.optim.solve.Converged` rule) ends the optimisation once its loss has converged, the
    look's iterations the cap; a tiled render runs the full count.

    `on_snapshot(iteration, image)` is called as each snapshot is taken, so a viewer can show the render build up.
    Coarse-to-fine (`look.levels`) and tiling (`look.tile`, or automatically when the whole image will not fit
    in memory) follow the look; snapshots of a tiled render are not taken.
    """
    look = (look or Look()).model_copy()
    styles = _styles(style)
    blend = blend_weights(look.style_weights, len(styles))
    dev = resolve_device(device)
    if look.seed is None:
        look.seed = random.randrange(2**31)
    content_rgb = load_rgb(content, "content image")
    guides, warnings = _with_regions(look, content, content_rgb, guides or Guides())
    guides.check(content_rgb.shape[:2])
    if init is not None:
        start = load_rgb(init, "init image")
    else:
        start = None if look.init in ("content", "noise") else load_rgb(look.init, "init image")
    src = Sources(content_rgb, [load_rgb(s, "style image") for s in styles], blend, start, guides)
    h, w = fit_size(*content_rgb.shape[:2], look.size)
    why = explain_precision(look.precision, dev)  # measures once per machine for 'auto'
    tile = plan_tile(h, w, look, dev)
    oom = f"Ran out of memory on {dev.type} rendering {w}×{h}; use a smaller --size or --tile."
    try:
        with precision_mode(dev, resolve_precision(look.precision, dev)):
            if tile:
                painted = paint_tiled(look, dev, src, (h, w), tile, progress)
            else:
                painted = paint(look, dev, src, (h, w), progress, set(snapshots), on_snapshot, stop)
    except torch.OutOfMemoryError:
        raise OutOfMemory(oom) from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise OutOfMemory(oom) from None
        raise
    return Result(painted.image, look, painted.ratio, painted.weights_origin, str(dev), painted.seconds,
                  painted.history, painted.snapshots, painted.fp32_from, resolve_precision(look.precision, dev), why,
                  warnings)


def _content_alpha(content: ImageLike) -> np.ndarray | None:
    """The content picture's alpha (for a region whose matte is 'alpha'), when it has one."""
    if isinstance(content, np.ndarray):
        return content[..., 3] if content.ndim == 3 and content.shape[2] == 4 else None
    if isinstance(content, str) and "@" in content and not Path(content).exists():
        return None  # a movie frame (MOVIE@N): movies carry no alpha
    try:
        return read_matte(content, channel="A")
    except ImpastoError:
        return None


def _with_regions(look: Look, content: ImageLike, content_rgb: np.ndarray, guides: Guides) -> tuple[Guides, list[str]]:
    """The guides with the look's own regions read in (unless the caller gave regions): mattes at the content's size."""
    if not look.regions or guides.regions:
        return guides, []
    alpha = _content_alpha(content) if any(r.matte == "alpha" for r in look.regions) else None
    regions, warnings = load_regions(look, content_rgb.shape[:2], content_alpha=alpha)
    return Guides(tuple(regions), guides.temporal), warnings


def evaluate_loss(image: ImageLike, content: ImageLike, style: ImageLike | Sequence[ImageLike],
                  look: Look | None = None, *, device: str = "cpu", guides: Guides | None = None) -> dict[str, float]:
    """The loss a render with `look` would assign to `image` (at the look's size, fp32): total, content, style, tv
    and any other loss group.

    One yardstick for images from other tools or other paths (tiles, coarse-to-fine, bf16).
    """
    look = (look or Look()).model_copy(update={"precision": "fp32"})
    styles = _styles(style)
    blend = blend_weights(look.style_weights, len(styles))
    dev = resolve_device(device)
    content_rgb = load_rgb(content, "content image")
    hw = fit_size(*content_rgb.shape[:2], look.size)
    guides, _ = _with_regions(look, content, content_rgb, guides or Guides())
    guides.check(content_rgb.shape[:2])
    at = guides.at(hw, dev, look.u, k=look.k, raw_ratio=look.raw_ratio) if guides else None
    objective = build_objective(look, dev, content_rgb, [load_rgb(s, "style image") for s in styles], blend, hw,
                                guides=at)
    img = resize(to_tensor(load_rgb(image, "image"), dev), hw)
    with torch.inference_mode(), precision_mode(dev, "fp32"):
        ev = objective.evaluate(img)
    return {"total": float(ev.total), **{g: float(v) for g, v in ev.groups.items()}}


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    u: float = Look.model_fields["u"].default,
    iterations: int = Look.model_fields["iterations"].default,
    size: int = Look.model_fields["size"].default,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    **options: object,
) -> np.ndarray:
    """Paint `content` in the style of `style` (paths or float H×W×3 RGB arrays in 0-1); float32 H×W×3 RGB in 0-1.

    Other keyword options are the fields of `impasto.Look` (network, seed, style_weights, optimizer, ...).
    """
    try:
        look = Look(u=u, iterations=iterations, size=size, **options)
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc)) from None
    return render(content, style, look, device=device, progress=progress).image
