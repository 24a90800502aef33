"""What steers a render beyond its look, as pictures: regions (mattes that set u and style per pixel) and temporal
targets (the previous painted frame warped along the plate's motion).

A user gives them at the content picture's size; every level of a coarse-to-fine render and every tile takes them
resized (and cropped) to its own size with `Guides.at`, so one guide means the same everywhere.

Overlapping mattes: later regions win. Region r's share of a pixel is m_r × Π_{later s}(1 − m_s); the look's base
settings get what is left, so the shares of a pixel always sum to 1 and a matte value between 0 and 1 blends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from impasto.errors import UsageError
from impasto.io.tensors import to_tensor
from impasto.objective.controls import style_ratio


@dataclass(frozen=True, eq=False)
class Region:
    """Pixels painted with their own u (and style images) where `matte` says.

    Attributes:
        matte: H×W float32 in 0-1 at the content picture's size, already feathered; values between 0 and 1 blend.
        u: unrealness inside the matte (as a look's u).
        styles: H×W×3 style pictures in 0-1 for the region; empty: the look's own.
        blend: the normalised blend weights of `styles`.
        name: the region's name, used in messages.
    """

    matte: np.ndarray  # H×W float32 0-1 at the content picture's size, already feathered
    u: float
    styles: tuple[np.ndarray, ...] = ()  # H×W×3 0-1 style pictures; empty: the look's own
    blend: tuple[float, ...] = ()  # normalised blend weights of `styles`
    name: str = ""


@dataclass(frozen=True, eq=False)
class Temporal:
    """Where this frame should be, from another painted frame warped along the plate's motion (Ruder et al. 2016)."""

    target: np.ndarray  # H×W×3 0-1 at the content picture's size
    mask: np.ndarray  # H×W 0-1: 1 where the warp is trusted (not occluded, not on a motion boundary)
    weight: float  # the term's strength; see objective.terms.TemporalTerm for its unit
    name: str = "previous"


@dataclass(frozen=True, eq=False)
class RegionAt:
    """One region at one size: its share of each pixel and its content weight relative to the base's."""

    share: torch.Tensor  # 1×1×h×w
    ratio_factor: float  # its style ratio over the look's: content is weighted by the inverse
    styles: tuple[np.ndarray, ...]
    blend: tuple[float, ...]
    name: str


@dataclass(frozen=True, eq=False)
class TemporalAt:
    target: torch.Tensor  # 1×3×h×w
    mask: torch.Tensor  # 1×1×h×w
    weight: float
    name: str


@dataclass(frozen=True, eq=False)
class GuidesAt:
    """Guides at one level or tile: the base share first, then the regions; the temporal targets."""

    regions: tuple[RegionAt, ...] = ()
    temporal: tuple[TemporalAt, ...] = ()

    def content_weight(self) -> torch.Tensor | None:
        """Per-pixel content weight (1×1×h×w) giving each region the ratio its u asks for; None without regions."""
        if not self.regions:
            return None
        cw = 0
        for r in self.regions:
            cw = cw + r.share / r.ratio_factor
        return cw


def _matte_tensor(matte: np.ndarray, dev: torch.device) -> torch.Tensor:
    m = np.asarray(matte, dtype=np.float32)
    if m.ndim == 3:
        m = m[..., 0]
    return torch.from_numpy(np.clip(m, 0.0, 1.0)).to(dev)[None, None]


def _fit(t: torch.Tensor, full_hw: tuple[int, int], crop: tuple[int, int, int, int] | None) -> torch.Tensor:
    """`t` resized to the full picture's size, then cropped (y, x, h, w) for a tile."""
    if tuple(t.shape[-2:]) != tuple(full_hw):
        t = F.interpolate(t, size=full_hw, mode="bilinear", align_corners=False, antialias=True)
    if crop is not None:
        y, x, h, w = crop
        t = t[..., y:y + h, x:x + w]
    return t.contiguous()


@dataclass(frozen=True, eq=False)
class Guides:
    """What steers a render beyond its look, given at the content picture's size: `regions` (mattes with their
    own u and style images, later ones winning where they overlap) and `temporal` targets (another painted frame
    warped along the plate's motion). Pass them as `impasto.render(..., guides=impasto.Guides(regions=(...,)))`;
    a look's own `regions` are read into them when the caller gives none."""

    regions: tuple[Region, ...] = ()
    temporal: tuple[Temporal, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.regions or self.temporal)

    def check(self, content_hw: tuple[int, int]) -> None:
        """One sentence if a guide is not the content picture's size (or aspect)."""
        h, w = content_hw
        for what, arr in [*((f"region '{r.name or i}' matte", r.matte) for i, r in enumerate(self.regions)),
                          *((f"temporal target '{t.name}'", t.target) for t in self.temporal),
                          *((f"temporal mask '{t.name}'", t.mask) for t in self.temporal)]:
            gh, gw = np.asarray(arr).shape[:2]
            if abs(gw / gh - w / h) > 0.01 * (w / h):
                raise UsageError(f"The {what} is {gw}×{gh} but the picture is {w}×{h}; give it the picture's aspect.")

    def at(self, hw: tuple[int, int], dev: torch.device, look_u: float, *, crop: tuple[int, int, int, int] | None = None,
           long_edge: int | None = None, k: float = 2.0, raw_ratio: bool = False) -> GuidesAt:
        """The guides at size `hw` (a level), optionally cropped (y, x, h, w) to a tile of it."""
        long_edge = long_edge or max(hw)
        base = style_ratio(look_u, long_edge, k, raw_ratio)
        regions: list[RegionAt] = []
        if self.regions:
            mattes = [_fit(_matte_tensor(r.matte, dev), hw, crop) for r in self.regions]
            shares = region_shares(mattes)
            regions.append(RegionAt(shares[0], 1.0, (), (), "base"))
            for r, share in zip(self.regions, shares[1:]):
                regions.append(RegionAt(share, style_ratio(r.u, long_edge, k, raw_ratio) / base, r.styles, r.blend,
                                        r.name))
        temporal = []
        for t in self.temporal:
            target = _fit(to_tensor(np.asarray(t.target, dtype=np.float32), dev), hw, crop).clamp(0, 1)
            temporal.append(TemporalAt(target, _fit(_matte_tensor(t.mask, dev), hw, crop), t.weight, t.name))
        return GuidesAt(tuple(regions), tuple(temporal))


def region_shares(mattes: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """[base, *regions] shares of each pixel (summing to 1): later mattes win where they overlap."""
    shares = []
    left = torch.ones_like(mattes[0])
    for m in reversed(mattes):
        shares.append(m * left)
        left = left * (1 - m)
    return [left, *reversed(shares)]


def layer_guide(share: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A share map averaged down to a feature layer's size (area), as Gatys et al. 2017 downsample guidance."""
    if tuple(share.shape[-2:]) == tuple(hw):
        return share
    return F.adaptive_avg_pool2d(share, hw)


__all__ = ["Guides", "GuidesAt", "Region", "RegionAt", "Temporal", "TemporalAt", "layer_guide", "region_shares"]
