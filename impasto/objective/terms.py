"""The terms an objective is made of: each holds its target, computed once, and scores an image.

A term's value includes its own weight (the layer weight of a content or style layer). Terms of one `group` are
summed in order; the objective then weighs each group (the style group by the style ratio) and sums them into the
loss the user sees. Constraint groups (the preview anchor, the out-of-range penalty) are added after the loss is
divided by its starting value, so they keep one strength whatever u is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from impasto.objective.losses import content_layer_loss, gram, style_layer_loss, tv_loss

# The anchor's unit: an RMS departure of 0.1 (in 0-1 pixels) from the coarsest level's picture, downsampled to
# its size, costs `weight` times the level's starting loss (the objective is divided by that loss).
ANCHOR_RMS = 0.1
# The temporal term's unit, the same: an RMS departure of 0.1 from the warped frame over the trusted pixels costs
# `weight` times the starting loss, whatever u and size are.
TEMPORAL_RMS = 0.1
OUT_OF_RANGE_WEIGHT = 1.0


@dataclass(frozen=True)
class Scored:
    """What terms score: the optimised pixels, the picture the network sees (clamped to 0-1) and its features."""

    pixels: torch.Tensor
    image: torch.Tensor
    features: dict[str, torch.Tensor]


class Term:
    """One weighted part of an objective."""

    group: ClassVar[str]
    layers: tuple[str, ...] = ()  # feature layers the term reads

    def __call__(self, x: Scored) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class LayerTerm(Term):
    """A term on one feature layer against a target computed once."""

    layer: str
    target: torch.Tensor
    weight: float = 1.0

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)


@dataclass(frozen=True, eq=False)
class ContentTerm(LayerTerm):
    """weight × ½‖F − P‖² at one layer, P the content image's features."""

    group: ClassVar[str] = "content"

    def __call__(self, x: Scored) -> torch.Tensor:
        return self.weight * content_layer_loss(x.features[self.layer], self.target)


@dataclass(frozen=True, eq=False)
class StyleTerm(LayerTerm):
    """weight × ‖G − A‖² / (4N²M²) at one layer; `target` is the Gram per position, so A = target × M."""

    group: ClassVar[str] = "style"

    def __call__(self, x: Scored) -> torch.Tensor:
        f = x.features[self.layer]
        _, _, fh, fw = f.shape
        return self.weight * style_layer_loss(f, self.target * (fh * fw))


@dataclass(frozen=True, eq=False)
class WeightedContentTerm(LayerTerm):
    """weight × ½ Σ w(p)‖F(p) − P(p)‖²: a content term whose weight varies per position (regions' own u)."""

    pixel_weight: torch.Tensor | None = None  # 1×1×h×w at the layer's size
    group: ClassVar[str] = "content"

    def __call__(self, x: Scored) -> torch.Tensor:
        d = x.features[self.layer].float() - self.target.float()
        return self.weight * 0.5 * (d.pow(2) * self.pixel_weight).sum()


@dataclass(frozen=True, eq=False)
class GuidedStyleTerm(LayerTerm):
    """A region's style term (Gatys et al. 2017): the Gram of the features weighted by the region's guide g,
    per guided position (Σg²), against its own per-position target; weighed by the region's share of the frame.

    With g ≡ 1 this is StyleTerm."""

    guide: torch.Tensor | None = None  # 1×1×h×w at the layer's size
    share: float = 1.0  # the region's mean share of the frame's pixels
    mass: float = 1.0  # Σg²: the guided positions
    group: ClassVar[str] = "style"

    def __call__(self, x: Scored) -> torch.Tensor:
        f = x.features[self.layer]
        n = f.shape[1]
        diff = gram(f * self.guide.to(f.dtype)) / self.mass - self.target
        return self.weight * self.share * diff.pow(2).sum() / (4.0 * n * n)


@dataclass(frozen=True, eq=False)
class TemporalTerm(Term):
    """How far the picture is from a warped painted frame over the trusted pixels (Ruder et al. 2016's short-term
    term: Σ c·(x − w)² over all D values), in units of TEMPORAL_RMS; a constraint, added after normalisation."""

    target: torch.Tensor  # 1×3×h×w
    mask: torch.Tensor  # 1×1×h×w
    weight: float
    group: ClassVar[str] = "temporal"

    def __call__(self, x: Scored) -> torch.Tensor:
        return self.weight * ((x.image - self.target).pow(2) * self.mask).mean() / TEMPORAL_RMS**2


@dataclass(frozen=True, eq=False)
class TVTerm(Term):
    """Total variation of the picture (its weight is the objective's tv group weight)."""

    group: ClassVar[str] = "tv"

    def __call__(self, x: Scored) -> torch.Tensor:
        return tv_loss(x.image)


@dataclass(frozen=True, eq=False)
class AnchorTerm(Term):
    """How far the picture, downsampled to the anchor's size, has left the anchor (a preview or coarser level)."""

    anchor: torch.Tensor
    weight: float
    group: ClassVar[str] = "anchor"

    def __call__(self, x: Scored) -> torch.Tensor:
        # Downsampled the way impasto (and an image viewer) scales a picture: bicubic with antialiasing. With a box
        # filter instead, the final's box average matched the preview but its viewed downsample did not.
        down = F.interpolate(x.image, size=tuple(self.anchor.shape[-2:]), mode="bicubic", align_corners=False,
                             antialias=True)
        return self.weight * (down - self.anchor).pow(2).mean() / ANCHOR_RMS**2


@dataclass(frozen=True, eq=False)
class RangeTerm(Term):
    """Walks pixels that strayed outside 0-1 back: the network sees them clamped, so nothing else pulls them."""

    weight: float = OUT_OF_RANGE_WEIGHT
    group: ClassVar[str] = "range"

    def __call__(self, x: Scored) -> torch.Tensor:
        return self.weight * (x.pixels - x.image).pow(2).mean()
