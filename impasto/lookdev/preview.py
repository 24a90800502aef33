"""Previews that predict the final render: a smaller render with the scaled ratio, or a crop at full size.

A scaled preview is an ordinary render at `scale` × the final long edge; the engine scales the ratio as
10**u × (long_edge/512)**k, with the look's k, so u keeps its meaning.

A crop is rendered at the final's pixel scale, so features and brush strokes already have the final's size
and only the number of positions differs. With fzliu's normalisation the content loss is a sum over
positions while the style loss is not, so the style term's pull on each pixel falls as 1/positions. To give
every pixel of the crop the balance it has in the final, the crop uses the final's ratio times the crop's
share of the final's pixels: ratio_crop = 10**u × (final_edge/512)**k × (crop_pixels / final_pixels).
(Using the crop's own long edge would apply k to a change that is not a change of scale; using the
final's ratio unchanged would over-stylise the crop by final_pixels / crop_pixels.) The style image is
scaled to the final's size, as in the final.

A preview at 1/2, 1/4 or 1/8 of the final also fixes how the final is rendered, so that it keeps what the
director approved: the look it writes renders coarse-to-fine from the preview's size (levels = n + 1 for a
1/2**n preview), takes the preview image itself as the coarsest level (Look.preview) and keeps each finer
level, averaged down to the preview's size, close to it (Look.anchor). Rendered single-scale from the photo,
a 512 px final differed from its 1/4 preview by a Gram distance of 0.39 where u ± 0.25 moved it by 0.04: the
optimisation finds another arrangement of strokes at every size. bench/preview_predicts.py measures both.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from impasto.api import Progress, Result, blend_weights, render
from impasto.errors import ImpastoError, UsageError
from impasto.io.images import MIN_SIDE
from impasto.io.mattes import read_matte
from impasto.io.tensors import (
    ImageLike,
    fit_size,
    load_rgb,
    resize,
    to_array,
    to_tensor,
)
from impasto.look import Look
from impasto.lookdev.saturation import Saturation, measure, preview_warning
from impasto.objective.controls import style_ratio
from impasto.objective.guides import Guides
from impasto.objective.regions import load_regions
from impasto.optim.strategies import level_iterations, level_sizes

Box = tuple[int, int, int, int]
# How firmly a final keeps its preview's picture (Look.anchor), measured by bench/preview_predicts.py.
PREVIEW_ANCHOR = 4.0
MAX_LEVELS = Look.model_fields["levels"].metadata[1].le


@dataclass
class PreviewResult:
    """A preview render and what it predicts about the final."""

    result: Result  # the preview render itself
    final_look: Look  # the look of the final this preview stands for (size = final long edge, seed filled)
    final_shape: tuple[int, int]  # final (height, width)
    mode: str  # "scale" or "crop"
    scale: float | None
    crop: Box | None
    ratio: float  # the ratio the preview rendered with
    final_ratio: float  # the ratio the final will render with
    seconds_per_iteration: float  # measured on the preview, after the first iteration (setup)
    predicted_final_seconds: float  # an estimate: seconds per iteration × pixel ratio × final iterations
    levels: int | None = None  # a scale preview of 1/2**n: the final grows from it over n + 1 levels
    saturation: Saturation | None = None  # a scale preview: where u stops changing the picture at its size
    warning: str | None = None  # one line when the preview's u lies there (impasto.lookdev.saturation)


def parse_box(text: str, what: str = "--crop") -> Box:
    """'x0,y0,x1,y1' as four integers."""
    try:
        vals = [int(round(float(v))) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise UsageError(f"{what} must be four numbers x0,y0,x1,y1, like 100,50,612,562.")
    return vals[0], vals[1], vals[2], vals[3]


def check_box(box: Box, height: int, width: int, what: str = "--crop", min_side: int = 32) -> Box:
    """A box inside a width × height image, at least `min_side` px each way."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise UsageError(f"{what} {x0},{y0},{x1},{y1} is empty or reversed: x1 must exceed x0 and y1 exceed y0.")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise UsageError(f"{what} {x0},{y0},{x1},{y1} lies outside the {width}×{height} final image.")
    if x1 - x0 < min_side or y1 - y0 < min_side:
        raise UsageError(f"{what} {x0},{y0},{x1},{y1} is smaller than {min_side} px on a side.")
    return box


def crop_ratio(look: Look, final_shape: tuple[int, int], crop_shape: tuple[int, int]) -> float:
    """The ratio that gives a full-size crop the per-pixel balance of the final (see the module docstring)."""
    fh, fw = final_shape
    ch, cw = crop_shape
    full = style_ratio(look.u, max(fh, fw), look.k, look.raw_ratio)
    if look.raw_ratio:
        return full
    return full * (ch * cw) / (fh * fw)


def final_content(content: ImageLike, look: Look) -> np.ndarray:
    """The content frame at the final's size (long edge look.size), as the final render sees it."""
    rgb = load_rgb(content, "content image")
    hw = fit_size(*rgb.shape[:2], look.size)
    return to_array(resize(to_tensor(rgb, torch.device("cpu")), hw))


def preview(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    look: Look,
    *,
    scale: float = 0.25,
    crop: Box | None = None,
    iterations: int | None = None,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
) -> PreviewResult:
    """Render a preview of the final `look` (look.size is the final long edge): `scale` × its size, or `crop`
    (x0,y0,x1,y1 in the final's pixels) at full size; `iterations` (default: the look's) for the preview."""
    content_rgb = load_rgb(content, "content image")
    final_hw = fit_size(*content_rgb.shape[:2], look.size)
    its = iterations or look.iterations
    if its < 1:
        raise UsageError("The preview needs at least one iteration.")
    if crop is None:
        if not (0 < scale <= 1):
            raise UsageError(f"--scale must lie in (0, 1], not {scale:g}.")
        edge = max(32, round(look.size * scale))
        if round(min(final_hw) * edge / max(final_hw)) < 16:  # VGG's deepest style layer needs 16 px
            raise UsageError(f"A {scale:g} preview of a {final_hw[1]}×{final_hw[0]} final is under 16 px on its short side; use a larger --scale.")
        p_look = look.model_copy(update={"size": edge, "iterations": its, "regions": scaled_regions(look, edge)})
        result = render(content_rgb, style, p_look, device=device, progress=progress)
        ratio = result.ratio
        mode = "scale"
        # A few forward passes (the render's style targets are cached): does u still change the picture here?
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        saturation = measure(content_rgb, [load_rgb(s, "style image") for s in styles], result.look,
                             blend=blend_weights(look.style_weights, len(styles)), device=result.device)
    else:
        x0, y0, x1, y1 = check_box(crop, *final_hw)
        full = final_content(content_rgb, look)
        piece = np.ascontiguousarray(full[y0:y1, x0:x1])
        ratio = crop_ratio(look, final_hw, piece.shape[:2])
        # The engine derives the ratio and the style image's size from the output's size; a crop needs
        # the final's, so it renders with the ratio given raw and the style scale relative to the crop.
        p_look = look.model_copy(update={
            "size": max(piece.shape[:2]), "iterations": its, "raw_ratio": True, "u": math.log10(ratio),
            "style_scale": look.style_scale * max(final_hw) / max(piece.shape[:2]),
        })
        guides, warnings = crop_regions(content, look, final_hw, (x0, y0, x1, y1), p_look.u)
        result = render(piece, style, p_look, device=device, progress=progress, guides=guides)
        result.warnings = warnings
        mode = "crop"
        saturation = None  # a crop has the final's pixel scale: it saturates as the final does
    final_look = look.model_copy(update={"seed": result.look.seed})
    levels = preview_levels(scale, final_hw) if crop is None else None
    if levels:
        # The final this preview predicts grows from it: coarse-to-fine from the preview's size, each finer
        # level kept to the preview's picture (see the module docstring).
        final_look = final_look.model_copy(update={"levels": levels, "anchor": look.anchor or PREVIEW_ANCHOR})
    h = result.history
    spi = (h[-1].elapsed - h[0].elapsed) / (len(h) - 1) if len(h) > 1 else h[0].elapsed
    ph, pw = result.image.shape[:2]
    # What the final will optimise: the levels after the preview's, or the whole final in one pass.
    stages = [(final_hw, look.iterations)]
    if levels:
        sizes = level_sizes(*final_hw, levels)
        stages = list(zip(sizes, level_iterations(look.iterations, levels)))[1:]
    predicted = sum(spi * (sh * sw) / (ph * pw) * n for (sh, sw), n in stages)
    return PreviewResult(
        result=result, final_look=final_look, final_shape=final_hw, mode=mode,
        scale=None if crop is not None else scale, crop=crop, ratio=ratio,
        final_ratio=style_ratio(look.u, max(final_hw), look.k, look.raw_ratio),
        seconds_per_iteration=spi, predicted_final_seconds=predicted, levels=levels,
        saturation=saturation, warning=preview_warning(saturation, look.u),
    )


def scaled_regions(look: Look, edge: int) -> list:
    """The look's regions for a render at long edge `edge`: feathers (px at the look's size) scaled with it. A
    region's u needs no change: its ratio over the look's, 10**(u_region − u), does not depend on the size."""
    return [r.model_copy(update={"feather": r.feather * edge / look.size}) for r in look.regions]


def crop_regions(content: ImageLike, look: Look, final_hw: tuple[int, int], box: Box, crop_u: float
                 ) -> tuple[Guides | None, list[str]]:
    """The look's regions for a full-size crop `box` of the final: mattes read at the final's size (feathered as
    there), then cropped; each region's u moved with the crop's raw u (`crop_u`) so that its ratio over the
    crop's stays 10**(u_region − u) as in the final. Warnings are about the whole frame."""
    if not look.regions:
        return None, []
    alpha = None
    if any(r.matte == "alpha" for r in look.regions) and isinstance(content, (str, os.PathLike)):
        try:
            alpha = read_matte(content, channel="A")
        except ImpastoError:
            alpha = None  # load_regions says that the content has no alpha
    regions, warnings = load_regions(look, final_hw, content_alpha=alpha)
    x0, y0, x1, y1 = box
    cropped = tuple(dataclasses.replace(r, matte=np.ascontiguousarray(r.matte[y0:y1, x0:x1]),
                                        u=crop_u + (r.u - look.u)) for r in regions)
    return Guides(cropped), warnings


def preview_levels(scale: float, final_hw: tuple[int, int]) -> int | None:
    """Levels of a coarse-to-fine final whose coarsest level is a `scale` preview (1/2, 1/4, 1/8), else None
    (another scale, or a coarsest level under a level's or an input image's minimum size)."""
    n = math.log2(1 / scale)
    if n < 0.5 or abs(n - round(n)) > 1e-9 or round(n) + 1 > MAX_LEVELS:
        return None
    levels = round(n) + 1
    sizes = level_sizes(*final_hw, levels)
    return levels if len(sizes) == levels and min(sizes[0]) >= MIN_SIDE else None


def style_fraction(result: Result) -> float:
    """Share of the final total loss that is the (ratio-weighted) style term."""
    last = result.history[-1]
    return last.style / max(last.content + last.style, 1e-30)
