"""The paper's creative controls as numbers: unrealness u and the style-to-content ratio it stands for."""

from __future__ import annotations

REFERENCE_EDGE = 512  # u is defined at a 512 px long edge
DEFAULT_K = 1.0  # ratio ∝ (long_edge / 512) ** k; the paper: half the size, about half the ratio
U_MIN, U_MAX = -2.0, 10.0


def style_ratio(u: float, long_edge: int, k: float = DEFAULT_K, raw: bool = False) -> float:
    """Style-to-content ratio for unrealness `u` at an output of `long_edge` px: 10**u × (long_edge/512)**k."""
    ratio = 10.0**u
    if raw:
        return ratio
    return ratio * (long_edge / REFERENCE_EDGE) ** k
