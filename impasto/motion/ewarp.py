"""Flicker measured as Lai et al. 2018's warping error E_warp, in the form issue 16 asks for: the mean absolute
difference, in 0-255 units, between frame t and frame t-1 carried onto it by the plate's backward flow, over the
pixels the plate's consistency mask trusts (all channels averaged). Lai et al. average a squared difference on
0-1 pictures; the absolute difference in 0-255 reads as "grey levels of flicker".

The same function measures a painted version and the plate itself (pass the plate's pictures): a painting's
excess flicker is its E_warp minus the plate's.

Size rule: E_warp is measured at the flow's size (the paint size). Pictures of another size (a render at
--scale, say) are fitted to it first: area averaging when they shrink, bilinear when they grow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from impasto.errors import UsageError
from impasto.motion.flow import Motion, fit, warp


def warp_error(prev_painted: np.ndarray, cur_painted: np.ndarray, motion: Motion) -> float:
    """E_warp between frames t-1 and t (display-referred 0-1 pictures), 0-255 units; NaN when the mask trusts
    no pixel (nothing to measure)."""
    size = motion.size
    prev = fit(prev_painted, size)
    cur = fit(cur_painted, size)
    if prev.shape != cur.shape:
        raise UsageError(f"Frames to compare must have the same channels, not shapes {prev.shape} and {cur.shape}.")
    mask = np.asarray(motion.mask, dtype=np.float64)
    weight = mask.sum()
    if weight <= 0:
        return math.nan
    diff = np.abs(cur.astype(np.float64) - warp(prev, motion.backward).astype(np.float64)) * 255.0
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    return float((diff * mask).sum() / weight)


def warp_errors(pictures: Iterable[np.ndarray], motions: Iterable[Motion]) -> list[float]:
    """E_warp of each consecutive pair of `pictures` (frames n, n+1, ...), with `motions[k]` the plate's motion
    from frame k to frame k+1 of them: one value fewer than pictures. Both may be lazy (one frame held at a time)."""
    errors: list[float] = []
    frames = iter(pictures)
    prev = next(frames, None)
    moves = iter(motions)
    for cur in frames:
        motion = next(moves, None)
        if motion is None:
            raise UsageError(f"There is no plate motion for frame pair {len(errors) + 1}: one motion per pair is needed.")
        errors.append(warp_error(prev, cur, motion))
        prev = cur
    return errors


def worst_pairs(errors: list[float], count: int = 3) -> list[int]:
    """Indices of the `count` largest E_warp values (largest first), NaNs left out."""
    ranked = sorted((i for i, e in enumerate(errors) if not math.isnan(e)), key=lambda i: -errors[i])
    return ranked[:count]
