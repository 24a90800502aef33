"""Where u stops changing the picture at a given size: measured for a plate and a painting with a few forward
passes, so `impasto preview` and `impasto sweep` can say when their u values will look alike.

The measurement. With ratio(u) = 10**u × (edge/512)**k the loss is content + ratio × style. Two numbers set the
scale of each term for this pair at the size rendered:
  * S_plate: the style loss of the plate itself (where the optimisation starts: all the style term has to win);
  * C_paint: the content loss of the painting laid over the plate's frame (the painting resized to the plate's
    shape): how far, in the content layer, a picture that is all painting lies from the plate.
The ratio at which they weigh the same, r* = C_paint / S_plate, is the *balance*: u_balance = log10(r*) −
log10((edge/512)**k) (the look's k; no size term with raw_ratio). One forward pass of the plate and one per
painting, at the size rendered (the style targets are the engine's cached ones, reused by the render).

The rule. Below u_balance − 1.5 the picture stays mostly the photo; the picture keeps changing up to
u_saturates = u_balance + headroom(edge), and above it more u changes little, where
  headroom(edge) = 4.25 + 1.5 × log2(edge / 512), at least 1.0.
u_balance itself hardly moves with the size under k = 2 (the two terms scale alike: Tübingen × The Starry Night
measured 1.73 at 160 px and 1.49 at 512 px; Golden Gate × The Scream 2.08 and 2.16; the astronaut × The Starry
Night 2.05 and 1.77), so the size effect is in the headroom: VGG's content layer (relu4_2, 1/8 of the pixels)
holds only the coarse layout of a small picture, and once the style layers have painted its texture there is
little left for more u to move. The headroom comes from renders: at 512 px the astronaut × Starry Night kept
changing from u 4 to u 6 (README's u 2/4/6 figure: content loss 3.0e10 → 7.3e10, the face dissolving), so
headroom(512) ≥ 6 − 1.77; at 160 px (64 iterations, seed 0) Tübingen × Starry Night's RMS distance from the plate
(0-1) was 0.030, 0.071, 0.116, 0.129, 0.133, 0.133 at u 0, 1, 2, 3, 4, 6 (u 3 to 6 look alike), and the issue's 144-192 px
previews showed all the change between u 1 and 2 and none from 3 to 6, so headroom(160) ≈ 3.5 − 1.73. At 64 px
(tests/test_saturation.py) u_saturates → +2 moved the picture 0.007 where u_photo → +2 moved it 0.110. Two sizes
and a handful of renders: a calibration to revise with more, not a law; below 128 px it is an extrapolation
(hence the floor). The measurement costs about what two iterations of the render do.

Crops are not measured: they render at the final's pixel scale, so they saturate as the final does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from impasto.devices import resolve_device
from impasto.features.precision import precision_mode
from impasto.io.tensors import fit_size, resize, to_tensor
from impasto.look import Look
from impasto.objective.controls import U_MIN, style_ratio
from impasto.objective.objective import build_objective

HEADROOM_512 = 4.25  # u_saturates − u_balance at a 512 px long edge
HEADROOM_PER_OCTAVE = 1.5  # how much it grows per doubling of the long edge
HEADROOM_MIN = 1.0
PHOTO_BELOW = 1.5  # u_balance − this: the picture stays mostly the photo
TOLERANCE = 0.25  # u values this close above u_saturates are not warned about
STEP = 0.5  # the suggested range's step


# Above this long edge the headroom (5.75 and more) puts saturation past u 7, the top of the useful range: sweeps
# do not measure there (nor pay for the style targets at that size).
SATURATES_BELOW = 1024


def headroom(edge: int) -> float:
    """How far above the balance u still changes the picture at a long edge of `edge` px (see the docstring)."""
    return max(HEADROOM_MIN, HEADROOM_512 + HEADROOM_PER_OCTAVE * math.log2(edge / 512))


@dataclass(frozen=True)
class Saturation:
    """Where u changes the picture for one plate and painting (or blend) at one size."""

    edge: int  # long edge measured at, px
    u_balance: float  # measured: the u at which content and style weigh the same here
    u_saturates: float  # above this more u changes little
    u_photo: float  # below this the picture stays mostly the photo
    content_of_painting: float  # C_paint
    style_of_plate: float  # S_plate

    def suggested(self) -> tuple[float, float]:
        """The u range that still changes the picture here, on half steps."""
        lo = max(U_MIN, math.floor(self.u_photo / STEP) * STEP)
        hi = max(lo + STEP, round(self.u_saturates / STEP) * STEP)
        return lo, hi

    def range_text(self) -> str:
        lo, hi = self.suggested()
        return f"{lo:g}:{hi:g}:{STEP:g}"

    def above(self, us: Sequence[float]) -> list[float]:
        """The u values that lie where more u changes little."""
        return [u for u in us if u > self.u_saturates + TOLERANCE]


def measure(content_rgb: np.ndarray, style_rgbs: Sequence[np.ndarray], look: Look, *,
            blend: Sequence[float] | None = None, device: str = "auto") -> Saturation | None:
    """The saturation of u for `content_rgb` painted with `style_rgbs` (blended by `blend`) at the look's size
    (`look.size` = the long edge rendered) and k; None when the measurement is meaningless (a painting identical
    to the plate, or a loss of zero)."""
    dev = resolve_device(device)
    hw = fit_size(*content_rgb.shape[:2], look.size)
    blend = list(blend) if blend is not None else [1.0 / len(style_rgbs)] * len(style_rgbs)
    probe = look.model_copy(update={"precision": "fp32", "tv_weight": 0.0, "anchor": 0.0})
    objective = build_objective(probe, dev, content_rgb, list(style_rgbs), blend, hw, ratio=1.0)
    with torch.inference_mode(), precision_mode(dev, "fp32"):
        plate = resize(to_tensor(content_rgb, dev), hw)
        style_of_plate = float(objective.evaluate(plate).groups["style"])
        content_of_painting = sum(
            w * float(objective.evaluate(resize(to_tensor(s, dev), hw)).groups["content"])
            for s, w in zip(style_rgbs, blend))
    if not (style_of_plate > 0 and content_of_painting > 0):
        return None
    edge = max(hw)
    u_balance = math.log10(content_of_painting / style_of_plate) - math.log10(style_ratio(0.0, edge, look.k, look.raw_ratio))
    if not math.isfinite(u_balance):
        return None
    return Saturation(edge, u_balance, u_balance + headroom(edge), u_balance - PHOTO_BELOW, content_of_painting,
                      style_of_plate)


def _measured(sat: Saturation) -> str:
    return (f"at {sat.edge} px u above {sat.u_saturates:.1f} changes little for this plate and painting (measured: "
            f"content and style balance at u {sat.u_balance:.1f} here)")


def preview_warning(sat: Saturation | None, u: float,
                    larger: str = "preview larger (--scale) or a --crop at full size") -> str | None:
    """One line when a preview's u lies where more u changes little at its size; `larger` says how to look bigger."""
    if sat is None or not sat.above([u]):
        return None
    lo, hi = sat.suggested()
    return (f"{_measured(sat)}: this u {u:g} preview looks much like u {hi:g}; judge u between {lo:g} and {hi:g} "
            f"at this size, or {larger}.")


def sweep_warning(sats: Sequence[Saturation | None], us: Sequence[float]) -> str | None:
    """One line when some of a sweep's u values lie where more u changes little (the most saturated style rules)."""
    known = [s for s in sats if s is not None]
    if not known:
        return None
    sat = min(known, key=lambda s: s.u_saturates)
    above = sat.above(us)
    if not above:
        return None
    hi = sat.suggested()[1]
    cells = f"the cell at u {above[0]:g} will" if len(above) == 1 else f"the cells at u {', '.join(f'{u:g}' for u in above)}"
    cells += " look much like u " + f"{hi:g}" if len(above) == 1 else " will look alike"
    return f"{_measured(sat)}, so {cells}; try --u {sat.range_text()} or a larger --size."
