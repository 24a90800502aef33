"""The engine's own Gatys loss, for batches: what the fast model trains on and what `fast compare` measures.

Same VGG (`impasto.engine.feature_net`), same layers and layer weights (`impasto.losses`), same preprocessing,
same style targets (`impasto.engine.style_targets`, style image at `style_scale` × the paint size), and the
same ratio (`impasto.controls.style_ratio`, reference-size rule at the long edge of the image scored).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..controls import style_ratio
from ..engine import FeatureNet, feature_net, fit_size, resize, to_tensor
from ..errors import UsageError
from ..look import Look
from ..losses import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    content_layer_loss,
    style_layer_loss,
    tv_loss,
)

LAYERS = tuple(dict.fromkeys([*CONTENT_LAYERS, *STYLE_LAYERS]))


def blend_weights(look: Look, n: int) -> list[float]:
    blend = look.style_weights or [1.0] * n
    if len(blend) != n:
        raise UsageError(f"The look has {len(blend)} style weights for {n} style images.")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise UsageError("Style weights must be non-negative and not all zero.")
    return [w / sum(blend) for w in blend]


class GatysLoss:
    """Content, style and TV terms per image of a batch, against one style at one paint size."""

    def __init__(self, look: Look, style_rgbs: Sequence[np.ndarray], paint_edge: int, device: torch.device,
                 match_to: np.ndarray | None = None) -> None:
        from .. import color

        self.look = look
        self.net: FeatureNet = feature_net(look.network, look.weights, look.pooling, str(device))
        self.device = device
        blend = blend_weights(look, len(style_rgbs))
        style_edge = max(32, round(look.style_scale * paint_edge))
        styles = []
        ref = None if match_to is None else to_tensor(match_to, device)
        for rgb in style_rgbs:
            s = to_tensor(rgb, device)
            if look.preserve_color == "match" and ref is not None:
                s = color.match_colors(s, ref)
            styles.append(resize(s, fit_size(*rgb.shape[:2], style_edge)))
        from ..engine import style_targets

        self.targets = style_targets(self.net, styles, blend)

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

    def _from_features(self, feats: dict[str, torch.Tensor], images: torch.Tensor,
                       content_feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = images.shape[0]
        cs, ss, ts = [], [], []
        for i in range(n):
            c = sum(w * content_layer_loss(feats[k][i:i + 1], content_feats[k][i:i + 1]) for k, w in CONTENT_LAYERS.items())
            s = sum(self.style_layers(feats, i).values())
            t = tv_loss(images[i:i + 1].float()) if self.look.tv_weight else torch.zeros((), device=images.device)
            cs.append(c)
            ss.append(s)
            ts.append(t)
        return torch.stack(cs), torch.stack(ss), torch.stack(ts)

    def style_layers(self, feats: dict[str, torch.Tensor], i: int = 0) -> dict[str, torch.Tensor]:
        """Image i's style term layer by layer (layer weight included, before the ratio)."""
        out = {}
        for k, w in STYLE_LAYERS.items():
            f = feats[k][i:i + 1]
            out[k] = w * style_layer_loss(f, self.targets[k] * (f.shape[-2] * f.shape[-1]))
        return out

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
