"""An objective: a list of weighted terms over one feature network, and how it is built for a look at a size."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from impasto.errors import UsageError
from impasto.features.net import FeatureNet, feature_net
from impasto.features.precision import autocast, resolve_precision
from impasto.io.tensors import resize, to_tensor
from impasto.look import Look
from impasto.objective.controls import style_ratio
from impasto.objective.guides import GuidesAt, layer_guide
from impasto.objective.losses import CONTENT_LAYERS, STYLE_LAYERS
from impasto.objective.targets import cached_style_targets, layer_stride
from impasto.objective.terms import (
    AnchorTerm,
    ContentTerm,
    GuidedStyleTerm,
    RangeTerm,
    Scored,
    StyleTerm,
    TemporalTerm,
    Term,
    TVTerm,
    WeightedContentTerm,
)

LOSS_GROUPS = ("content", "style", "tv")  # the loss the user sees, summed in this order; other groups follow
CONSTRAINT_GROUPS = ("anchor", "temporal", "range")  # added after the loss is divided by its starting value


def group_sums(terms: Sequence[Term], x: Scored) -> dict[str, torch.Tensor]:
    """Each group's terms summed in order (layer weights included, group weights not)."""
    sums: dict[str, torch.Tensor] = {}
    for term in terms:
        sums[term.group] = sums.get(term.group, 0) + term(x)
    return sums


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One image scored: the user's loss, its weighted groups and the constraints."""

    total: torch.Tensor
    groups: dict[str, torch.Tensor]  # weighted: content, style (× ratio), tv (× tv weight), any added group
    constraints: tuple[torch.Tensor, ...]

    def objective(self, scale: float) -> torch.Tensor:
        """What the optimiser sees: the loss over its starting value `scale`, plus the constraints."""
        obj = self.total / scale
        for c in self.constraints:
            obj = obj + c
        return obj

    def as_tensor(self, objective: torch.Tensor) -> torch.Tensor:
        """[objective, total, *groups]: one device tensor, read back to the host only when needed."""
        return torch.stack([objective.detach(), self.total.detach(), *(g.detach() for g in self.groups.values())])


@dataclass(frozen=True, eq=False)
class Objective:
    """Weighted terms over `net`'s features; `weights` weighs whole groups (style: the style ratio)."""

    net: FeatureNet
    terms: tuple[Term, ...]
    weights: Mapping[str, float]
    precision: str = "fp32"

    @property
    def ratio(self) -> float:
        return self.weights.get("style", 0.0)

    @property
    def layers(self) -> set[str]:
        return {layer for t in self.terms for layer in t.layers}

    def groups(self) -> list[str]:
        """The loss groups, content, style and tv first (tv reported as 0 when absent)."""
        extra = [t.group for t in self.terms if t.group not in LOSS_GROUPS and t.group not in CONSTRAINT_GROUPS]
        return [*LOSS_GROUPS, *dict.fromkeys(extra)]

    def with_precision(self, precision: str) -> Objective:
        return dataclasses.replace(self, precision=precision)

    def with_terms(self, *terms: Term, **weights: float) -> Objective:
        """This objective with more terms (and group weights for new groups)."""
        return dataclasses.replace(self, terms=(*self.terms, *terms), weights={**self.weights, **weights})

    def score(self, pixels: torch.Tensor) -> Scored:
        """The network's view of the pixels: clamped to 0-1 (how the picture will be written), with its features."""
        image = pixels.clamp(0, 1)
        with autocast(pixels.device, self.precision):
            features = self.net(image, self.layers)
        return Scored(pixels, image, features)

    def evaluate(self, pixels: torch.Tensor) -> Evaluation:
        """The user's loss, its groups and the constraints of one image."""
        x = self.score(pixels)
        sums = group_sums(self.terms, x)
        zero = torch.zeros((), device=pixels.device)
        groups = {g: self.weights.get(g, 1.0) * sums.get(g, zero) for g in self.groups()}
        total = 0
        for value in groups.values():
            total = total + value
        return Evaluation(total, groups, tuple(sums[g] for g in CONSTRAINT_GROUPS if g in sums))


def blend_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """The style images' blend weights, normalised; one sentence if they do not fit the `n` style images."""
    blend = list(weights or [1.0] * n)
    if len(blend) != n:
        raise UsageError(f"--style-weights has {len(blend)} values for {n} style images.")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise UsageError("--style-weights must be non-negative and not all zero.")
    return [w / sum(blend) for w in blend]


def content_terms(p_targets: Mapping[str, torch.Tensor]) -> list[Term]:
    """The content terms, one per content layer, against the content image's features."""
    return [ContentTerm(k, p_targets[k], wt) for k, wt in CONTENT_LAYERS.items()]


def style_terms(a_targets: Mapping[str, torch.Tensor]) -> list[Term]:
    """The Gram style terms, one per style layer, against per-position Gram targets."""
    return [StyleTerm(k, a_targets[k], wt) for k, wt in STYLE_LAYERS.items()]


def gatys_terms(p_targets: Mapping[str, torch.Tensor], a_targets: Mapping[str, torch.Tensor], *,
                tv: bool = False) -> list[Term]:
    """The loss that defines u: content and style terms (and total variation when weighted)."""
    terms = content_terms(p_targets) + style_terms(a_targets)
    if tv:
        terms.append(TVTerm())
    return terms


MIN_SHARE = 1e-4  # a region with less of the frame than this has no style terms: its Gram would be noise


def region_terms(net: FeatureNet, guides: GuidesAt, p_targets: Mapping[str, torch.Tensor],
                 a_targets: Mapping[str, torch.Tensor], style_edge: int, preserve_color: str,
                 match_to: torch.Tensor | None) -> list[Term]:
    """Per-pixel-weighted content terms and each region's guided style terms (its own style images' targets)."""
    cw = guides.content_weight()
    terms: list[Term] = [WeightedContentTerm(k, p_targets[k], wt, layer_guide(cw, p_targets[k].shape[-2:]))
                         for k, wt in CONTENT_LAYERS.items()]
    for region in guides.regions:
        share = float(region.share.mean())
        if share < MIN_SHARE:
            continue
        targets = a_targets
        if region.styles:
            targets = cached_style_targets(net, region.styles, region.blend, style_edge, preserve_color, match_to)
        for k, wt in STYLE_LAYERS.items():
            # The layer's size: VGG halves it (rounding down) at each pooling.
            stride = layer_stride(net.key[0], k)
            g = layer_guide(region.share, (region.share.shape[-2] // stride, region.share.shape[-1] // stride))
            terms.append(GuidedStyleTerm(k, targets[k], wt, g, share, max(float(g.pow(2).sum()), 1e-12)))
    return terms


def build_objective(look: Look, dev: torch.device, content_rgb: np.ndarray, style_rgbs: Sequence[np.ndarray],
                    blend: Sequence[float], hw: tuple[int, int], *, style_edge: int | None = None,
                    ratio: float | None = None, content: torch.Tensor | None = None,
                    anchor: torch.Tensor | None = None, guides: GuidesAt | None = None) -> Objective:
    """Content, style, TV and range terms for one size: content features at `hw`, style Grams at `style_edge`
    (default style_scale × the long edge); an anchor term when `anchor` is given and the look asks for one;
    regions' weighted content and guided style terms, and temporal terms, when `guides` (at `hw`) hold them."""
    net = feature_net(look.network, look.weights, look.pooling, str(dev))
    if look.compile and dev.type == "cuda":
        net.compile()
    h, w = hw
    if content is None:
        content = resize(to_tensor(content_rgb, dev), hw)
    if style_edge is None:
        style_edge = max(32, round(look.style_scale * max(h, w)))
    match_to = content if look.preserve_color == "match" else None
    a_targets = cached_style_targets(net, style_rgbs, blend, style_edge, look.preserve_color, match_to)
    # Targets always in fp32: a bf16 render that falls back to fp32 keeps the same objective.
    with torch.inference_mode():
        p_targets = {k: v.clone() for k, v in net(content, CONTENT_LAYERS).items()}
    if ratio is None:
        ratio = style_ratio(look.u, max(h, w), look.k, look.raw_ratio)
    if guides is not None and guides.regions:
        terms = region_terms(net, guides, p_targets, a_targets, style_edge, look.preserve_color, match_to)
        if look.tv_weight:
            terms.append(TVTerm())
    else:
        terms = gatys_terms(p_targets, a_targets, tv=bool(look.tv_weight))
    if anchor is not None and look.anchor:
        terms.append(AnchorTerm(anchor, look.anchor))
    for t in guides.temporal if guides is not None else ():
        if t.weight > 0:
            terms.append(TemporalTerm(t.target, t.mask, t.weight))
    terms.append(RangeTerm())
    return Objective(net, tuple(terms), {"content": 1.0, "style": ratio, "tv": look.tv_weight},
                     resolve_precision(look.precision, dev))

