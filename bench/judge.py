"""A judge neither tool optimised: style and content distances of a picture, read by the other VGG.

VGG16 judges VGG19 renders (pastiche's and impasto's `network vgg19` renders) and VGG19 judges VGG16 renders, so
neither tool is scored by the very network its optimiser minimised. Two numbers per picture, lower is better:

* style distance: mean over relu1_1..relu5_1 of the mean squared difference of the Gram matrices per position
  (F·Fᵀ / (H·W)) of the picture and of the style image, the style image at the scale the render used
  (long edge = style_scale × the picture's long edge; 1.2 for both tools here);
* content distance: relu4_2's mean squared difference to the content image, over the content's mean square.

`pareto_hit` finds the first picture of a series (snapshots of one render) that is at least as good as a reference
on both distances. Used by bench/run.py and bench/device_check.py; it reads impasto's public feature network only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

JUDGE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JUDGE_CONTENT_LAYER = "relu4_2"


def crop_to_aspect(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The centre of an H×W×C picture cropped to hw's aspect ratio (then it resizes to hw without distortion)."""
    h0, w0 = rgb.shape[:2]
    a = hw[1] / hw[0]
    if w0 / h0 > a:
        cw = round(h0 * a)
        return rgb[:, (w0 - cw) // 2:(w0 - cw) // 2 + cw]
    ch = round(w0 / a)
    return rgb[(h0 - ch) // 2:(h0 - ch) // 2 + ch]


def judge_network(render_network: str) -> str:
    """The network that judges renders optimised on `render_network`."""
    return "vgg16" if render_network == "vgg19" else "vgg19"


def _gram_per_position(f: torch.Tensor) -> torch.Tensor:
    _, c, h, w = f.shape
    m = f.float().reshape(c, h * w)
    return (m @ m.t()) / (h * w)


class Judge:
    """Distances of pictures (H×W×3 RGB in 0-1, or paths) to one content and one style image at one size."""

    def __init__(self, network: str, content, style, hw: tuple[int, int], style_scale: float = 1.2,
                 device: str = "cpu") -> None:
        from impasto.features.net import feature_net
        from impasto.io.tensors import fit_size, load_rgb, resize, to_tensor

        self.network, self.hw, self.device = network, tuple(hw), torch.device(device)
        self.net = feature_net(network, None, "max", str(self.device))
        self._resize, self._to_tensor, self._load = resize, to_tensor, load_rgb
        s = load_rgb(style, "style")
        s_hw = fit_size(*s.shape[:2], round(style_scale * max(hw)))
        with torch.no_grad():
            c = resize(to_tensor(load_rgb(content, "content"), self.device), self.hw)
            fc = self.net(c, [JUDGE_CONTENT_LAYER])[JUDGE_CONTENT_LAYER].float()
            self.content_target = fc
            self.content_scale = float(fc.pow(2).mean())
            fs = self.net(resize(to_tensor(s, self.device), s_hw), JUDGE_STYLE_LAYERS)
            self.style_targets = {k: _gram_per_position(fs[k]) for k in JUDGE_STYLE_LAYERS}

    @torch.no_grad()
    def __call__(self, picture) -> dict[str, float]:
        x = self._resize(self._to_tensor(self._load(picture, "picture"), self.device), self.hw)
        f = self.net(x, (*JUDGE_STYLE_LAYERS, JUDGE_CONTENT_LAYER))
        style = sum(float((_gram_per_position(f[k]) - self.style_targets[k]).pow(2).mean())
                    for k in JUDGE_STYLE_LAYERS) / len(JUDGE_STYLE_LAYERS)
        content = float((f[JUDGE_CONTENT_LAYER].float() - self.content_target).pow(2).mean()) / self.content_scale
        return {"style": style, "content": content}

    def many(self, pictures: Iterable) -> list[dict[str, float]]:
        return [self(p) for p in pictures]


def pareto_hit(reference: dict[str, float], series: Sequence[dict]) -> dict | None:
    """The first entry of `series` (dicts with 'style' and 'content', in time order) no worse than `reference` on
    both distances, or None."""
    for entry in series:
        if entry["style"] <= reference["style"] and entry["content"] <= reference["content"]:
            return entry
    return None


def snapshot_schedule(iterations: int, every: int = 8, dense_until: int = 64, dense_every: int = 4) -> list[int]:
    """Iterations at which to take snapshots: every `dense_every` up to `dense_until`, then every `every`, and the
    last one."""
    its = set(range(dense_every, min(dense_until, iterations) + 1, dense_every))
    its |= set(range(dense_until + every, iterations + 1, every))
    its.add(iterations)
    return sorted(i for i in its if 1 <= i <= iterations)


def judge_snapshots(judge: Judge, snapshots: dict[int, np.ndarray], history) -> list[dict]:
    """Each snapshot's distances with the seconds the render had taken when it was reached (from its history)."""
    elapsed = {p.iteration: p.elapsed for p in history}
    out = []
    for i in sorted(snapshots):
        if i not in elapsed:
            continue  # an iteration the optimiser did not accept (stopped early): no time to give it
        out.append({"iteration": i, "elapsed": elapsed[i], **judge(snapshots[i])})
    return out
