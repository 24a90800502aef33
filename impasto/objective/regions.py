"""A look's regions for one picture: the `[[look.regions]]` a user wrote, read into the engine's `Region`s.

Each matte is read (an image, the frame of a pattern, or the content's own alpha), fitted to the content picture's
size, inverted if asked and feathered. `feather` is in px at the look's size (its long edge `look.size`, the
painted size); a picture given at another size gets it scaled by picture long edge / look.size, so a feather
means the same softness in the painting whatever size the engine is handed. Overlaps follow the engine's rule:
later regions win. The warnings say what a user should know before painting: a matte too small for its Gram to
mean much, and regions that overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from impasto.errors import UsageError
from impasto.io.images import read_image
from impasto.io.mattes import alpha_matte, feather, fit_matte, is_pattern, matte_digest, matte_path, read_matte
from impasto.look import Look, RegionSpec
from impasto.objective.guides import Region
from impasto.objective.objective import blend_weights

MIN_COVERAGE = 0.02  # under this share of the frame a region's Gram is estimated from few pixels
MIN_OVERLAP = 0.001  # overlaps on less of the frame than this (stray pixels) are not worth a warning

StyleLoader = Callable[[Path], np.ndarray]


def resolve(root: Path, path: str) -> Path:
    """A path from a look: as it is when absolute, else relative to `root` (the look file's or shot's folder)."""
    p = Path(path)
    return p if p.is_absolute() else root / p


def region_matte(spec: RegionSpec, picture_hw: tuple[int, int], *, scale: float = 1.0,
                 content_alpha: np.ndarray | None = None, frame: int | None = None, root: Path = Path(".")
                 ) -> np.ndarray:
    """One region's matte at the picture's size: read, fitted, inverted if asked, feathered by `feather` × `scale`."""
    if spec.matte == "alpha":
        if content_alpha is None:
            raise UsageError(f"Region '{spec.name}' uses the content's alpha as its matte, but the content has none.")
        matte = alpha_matte(content_alpha, "content picture")
        what = f"content's alpha (region '{spec.name}')"
    else:
        matte = read_matte(resolve(root, spec.matte), spec.channel, frame)
        what = (f"matte frame {frame} of region '{spec.name}'" if is_pattern(spec.matte)
                else f"matte of region '{spec.name}'")
    matte = fit_matte(matte, picture_hw, what)
    if spec.invert:
        matte = 1.0 - matte
    return np.ascontiguousarray(feather(matte, spec.feather * scale), dtype=np.float32)


def load_regions(look: Look, picture_hw: tuple[int, int], *, content_alpha: np.ndarray | None = None,
                 frame: int | None = None, root: Path = Path("."), style_loader: StyleLoader = read_image
                 ) -> tuple[list[Region], list[str]]:
    """The look's regions for a picture of size `picture_hw` (height, width), and warnings (one sentence each).

    `content_alpha`: the picture's alpha (H×W, or the whole H×W×4 picture), for `matte = "alpha"`; `frame`: the
    frame being painted, for matte patterns; `root`: what relative matte and style paths are relative to;
    `style_loader`: reads a region's style image as H×W×3 0-1. A region without its own u takes the look's.
    """
    if not look.regions:
        return [], []
    scale = max(picture_hw) / look.size
    regions: list[Region] = []
    for spec in look.regions:
        matte = region_matte(spec, picture_hw, scale=scale, content_alpha=content_alpha, frame=frame, root=root)
        styles: tuple[np.ndarray, ...] = ()
        blend: tuple[float, ...] = ()
        if spec.styles:
            styles = tuple(style_loader(resolve(root, s)) for s in spec.styles)
            try:
                blend = tuple(blend_weights(spec.style_weights, len(styles)))
            except UsageError:
                raise UsageError(f"Region '{spec.name}' style_weights must be non-negative and not all zero.") from None
        u = look.u if spec.u is None else spec.u
        regions.append(Region(matte=matte, u=u, styles=styles, blend=blend, name=spec.name))
    return regions, region_warnings(regions)


def region_warnings(regions: Sequence[Region]) -> list[str]:
    """Mattes that cover under 2 % of the frame, and pairs of regions that overlap (the later one wins there)."""
    warnings = []
    for r in regions:
        coverage = float(np.mean(r.matte))
        if coverage < MIN_COVERAGE:
            warnings.append(f"Region '{r.name}' covers {coverage:.1%} of the frame (under {MIN_COVERAGE:.0%}): its "
                            "Gram is estimated from few pixels, so its style may come out weak or noisy.")
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            both = float(np.mean((a.matte > 0.5) & (b.matte > 0.5)))
            if both >= MIN_OVERLAP:
                warnings.append(f"Regions '{a.name}' and '{b.name}' overlap on {both:.1%} of the frame; the later "
                                f"one, '{b.name}', wins there.")
    return warnings


def matte_digests(look: Look, frame: int | None = None, root: Path = Path(".")) -> dict[str, str]:
    """Region name -> digest of its matte file for `frame`, for a manifest (as plates and styles are hashed); a
    region on the content's alpha is covered by the plate's digest and left out. One sentence for a missing frame."""
    return {r.name: matte_digest(resolve(root, r.matte), frame) for r in look.regions if r.matte != "alpha"}


def missing_mattes(look: Look, frames: Sequence[int], root: Path = Path(".")) -> dict[str, list[int]]:
    """Region name -> the frames of `frames` whose matte file is missing (only regions that have some), so a shot
    can say so before it starts painting. A single-image matte is missing for every frame or none."""
    missing: dict[str, list[int]] = {}
    for r in look.regions:
        if r.matte == "alpha":
            continue
        path = resolve(root, r.matte)
        gone = [n for n in frames if not matte_path(path, n if is_pattern(r.matte) else None).is_file()]
        if gone:
            missing[r.name] = gone
    return missing


__all__ = ["MIN_COVERAGE", "load_regions", "matte_digests", "missing_mattes", "region_matte", "region_warnings",
           "resolve"]
