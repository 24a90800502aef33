"""The paper's creative controls as numbers: unrealness u and the style-to-content ratio it stands for."""

from __future__ import annotations

REFERENCE_EDGE = 512  # u is defined at a 512 px long edge
DEFAULT_K = 2.0  # ratio ∝ (long_edge / 512) ** k; measured (bench/preview_predicts.py, tests/test_preview.py): the
# style/content balance agrees across sizes at k ≈ 2 (content loss grows with pixel count, style loss does not);
# the paper judged k ≈ 1 by eye. `impasto preview --calibrate` measures k for a pair.
U_MIN, U_MAX = -2.0, 10.0


def style_ratio(u: float, long_edge: int, k: float = DEFAULT_K, raw: bool = False) -> float:
    """Style-to-content ratio for unrealness `u` at an output of `long_edge` px: 10**u × (long_edge/512)**k."""
    ratio = 10.0**u
    if raw:
        return ratio
    return ratio * (long_edge / REFERENCE_EDGE) ** k


# boil -> the temporal term's weight (objective.terms.TemporalTerm, in units of the starting loss per 0.1 RMS).
# Logarithmic, like u: each step of 1/3 in boil is a factor of 10; boil 0 has no term and no warped start.
BOIL_WEIGHT_AT_1 = 10.0
BOIL_DECADES = 3.0


def temporal_weight(boil: float) -> float:
    """The temporal term's weight for `boil` in 0-1: 0 at 0 (frames independent), BOIL_WEIGHT_AT_1 at 1."""
    if not 0.0 <= boil <= 1.0:
        raise ValueError("boil must lie between 0 and 1")
    if boil == 0.0:
        return 0.0
    return BOIL_WEIGHT_AT_1 * 10.0 ** (BOIL_DECADES * (boil - 1.0))

