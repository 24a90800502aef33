"""The engine's own objective, for batches: what the fast model trains on and what `fast compare` measures.

The terms are the engine's (`impasto.objective.objective.gatys_terms`: same layers, layer weights and Gram
normalisation), on the same network (`feature_net`) and the same style targets (`cached_style_targets`, style
image at `style_scale` × the paint size), and the ratio is the same rule (`style_ratio`, at the long edge of the
image scored): one definition of u.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from impasto.features.net import FeatureNet, feature_net
from impasto.io.tensors import resize, to_tensor
from impasto.look import Look
from impasto.objective.controls import style_ratio
from impasto.objective.losses import CONTENT_LAYERS, STYLE_LAYERS
from impasto.objective.objective import (
    blend_weights,
    content_terms,
    group_sums,
    style_terms,
)
from impasto.objective.targets import cached_style_targets
from impasto.objective.terms import Scored, Term, TVTerm

LAYERS = tuple(dict.fromkeys([*CONTENT_LAYERS, *STYLE_LAYERS]))


class GatysLoss:
    """Content, style and TV group sums per image of a batch, against one style at one paint size."""

    def __init__(self, look: Look, style_rgbs: Sequence[np.ndarray], paint_edge: int, device: torch.device,
                 match_to: np.ndarray | None = None) -> None:
        self.look = look
        self.net: FeatureNet = feature_net(look.network, look.weights, look.pooling, str(device))
        self.device = device
        blend = blend_weights(look.style_weights, len(style_rgbs))
        style_edge = max(32, round(look.style_scale * paint_edge))
        ref = to_tensor(match_to, device) if look.preserve_color == "match" and match_to is not None else None
        self.targets = cached_style_targets(self.net, style_rgbs, blend, style_edge, look.preserve_color, ref)
        self.style_terms: list[Term] = style_terms(self.targets)
        self.tv_terms: list[Term] = [TVTerm()] if look.tv_weight else []

    @property
    def origin(self) -> str:
        return self.net.origin

    def content_targets(self, contents: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: v.detach() for k, v in self.net(contents, CONTENT_LAYERS).items()}

    def reference(self, contents: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One pass over the unpainted images: their content features, and their own style and TV terms."""
        with torch.no_grad():
            feats = self.net(contents, LAYERS)
            content_feats = {k: feats[k].detach() for k in CONTENT_LAYERS}
            _, s, t = self._from_features(feats, contents, content_feats)
        return content_feats, s, t

    def terms(self, images: torch.Tensor, content_feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content, style, tv), each a length-N tensor for N×3×H×W images in 0-1."""
        return self._from_features(self.net(images, LAYERS), images, content_feats)

    @staticmethod
    def _scored(feats: dict[str, torch.Tensor], images: torch.Tensor, i: int) -> Scored:
        image = images[i:i + 1].float()
        return Scored(image, image, {k: v[i:i + 1] for k, v in feats.items()})

    def _from_features(self, feats: dict[str, torch.Tensor], images: torch.Tensor,
                       content_feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zero = torch.zeros((), device=images.device)
        cs, ss, ts = [], [], []
        for i in range(images.shape[0]):
            terms = content_terms({k: v[i:i + 1] for k, v in content_feats.items()}) + self.style_terms + self.tv_terms
            sums = group_sums(terms, self._scored(feats, images, i))
            cs.append(sums["content"])
            ss.append(sums["style"])
            ts.append(sums.get("tv", zero))
        return torch.stack(cs), torch.stack(ss), torch.stack(ts)

    def style_layers(self, feats: dict[str, torch.Tensor], i: int = 0) -> dict[str, torch.Tensor]:
        """Image i's style term layer by layer (layer weight included, before the ratio)."""
        x = Scored(torch.empty(0), torch.empty(0), {k: v[i:i + 1] for k, v in feats.items()})  # style reads features only
        return {t.layer: t(x) for t in self.style_terms}

    def ratio(self, u: float, long_edge: int) -> float:
        return style_ratio(u, long_edge, self.look.k, self.look.raw_ratio)


def style_by_layer(loss: GatysLoss, image: np.ndarray) -> dict[str, float]:
    """The style term of one painted image layer by layer (layer weight included, before the ratio)."""
    with torch.no_grad():
        feats = loss.net(to_tensor(image, loss.device), STYLE_LAYERS)
        return {k: float(v) for k, v in loss.style_layers(feats).items()}


def score(loss: GatysLoss, image: np.ndarray, content: np.ndarray, u: float) -> dict[str, float]:
    """The engine's loss terms for one painted image against its content, at u (ratio at the image's long edge)."""
    dev = loss.device
    x = to_tensor(image, dev)
    p = resize(to_tensor(content, dev), tuple(x.shape[-2:]))
    with torch.no_grad():
        c, s, t = loss.terms(x, loss.content_targets(p))
    r = loss.ratio(u, max(x.shape[-2:]))
    content_v, style_v, tv_v = float(c[0]), r * float(s[0]), loss.look.tv_weight * float(t[0])
    return {"content": content_v, "style": style_v, "tv": tv_v, "total": content_v + style_v + tv_v, "ratio": r}


def style_distance(loss: GatysLoss, a: np.ndarray, b: np.ndarray) -> float:
    """The Gram style distance between two pictures of one frame (same size): the look's style layers, each
    ‖G(a) − G(b)‖² / (4 N² M²) as the style term, weighted by its layer weight. It asks how far apart two
    paintings' textures are, whatever their strokes' places: what `fast compare` and bench/fast.py judge a
    painter's picture by against the optimisation's picture of the same frame and u."""
    from impasto.objective.losses import gram, style_layer_loss

    with torch.no_grad():
        fa = loss.net(to_tensor(a, loss.device), STYLE_LAYERS)
        fb = loss.net(to_tensor(b, loss.device), STYLE_LAYERS)
        return float(sum(w * float(style_layer_loss(fa[k], gram(fb[k]))) for k, w in STYLE_LAYERS.items()))
