"""Measuring k, the exponent by which the style-to-content ratio follows the image size, for one content/style pair.

ratio = 10**u × (long_edge/512)**k. Renders at two or three sizes, for each candidate k, are compared with
the render at the largest size (the anchor: its ratio does not depend on the candidate, so it is rendered
once): by the style-loss fraction (style / total at the end) and by a Gram style distance between the
renders downsampled to the smallest size. The k whose renders agree best across sizes wins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from impasto.api import render
from impasto.devices import resolve_device
from impasto.errors import UsageError
from impasto.features.net import feature_net
from impasto.io.tensors import ImageLike, fit_size, load_rgb, resize, to_tensor
from impasto.look import Look
from impasto.lookdev.preview import style_fraction
from impasto.progress import CellEvent, OnEvent
from impasto.objective.controls import REFERENCE_EDGE
from impasto.objective.losses import STYLE_LAYERS, gram

DEFAULT_SIZES = (128, 256, 512)
DEFAULT_CANDIDATES = (0.0, 0.5, 1.0, 1.5, 2.0)


def gram_signature(rgb: np.ndarray, edge: int, *, network: str = "vgg16", weights: str | None = None,
                   pooling: str = "max", device: str = "cpu") -> dict[str, torch.Tensor]:
    """Per-position Gram matrices (style layers) of an image downsampled to long edge `edge`."""
    net = feature_net(network, weights, pooling, device)
    t = resize(to_tensor(rgb, torch.device(device)), fit_size(*rgb.shape[:2], edge))
    with torch.inference_mode():
        feats = net(t, STYLE_LAYERS)
    return {k: gram(f) / (f.shape[2] * f.shape[3]) for k, f in feats.items()}


def signature_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Relative Gram distance, averaged over the style layers with their loss weights (0 = same style statistics)."""
    d = 0.0
    for layer, w in STYLE_LAYERS.items():
        ga, gb = a[layer], b[layer]
        d += w * float((ga - gb).norm() / (0.5 * (ga.norm() + gb.norm()) + 1e-12))
    return d


def style_distance(a: np.ndarray, b: np.ndarray, edge: int, **net: str | None) -> float:
    """Gram style distance between two images, both downsampled to long edge `edge`."""
    return signature_distance(gram_signature(a, edge, **net), gram_signature(b, edge, **net))


@dataclass
class Calibration:
    """The measured k and the numbers it rests on."""

    k: float
    sizes: list[int]
    candidates: list[float]
    iterations: int
    compare_edge: int
    score: dict[float, float]  # combined, lower is better
    gram_distance: dict[float, float]  # mean over sizes of the distance to the anchor
    fraction_spread: dict[float, float]  # mean |fraction(size) - fraction(anchor)|
    fractions: dict[tuple[float, int], float] = field(default_factory=dict)  # (k, size) -> style fraction
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "k": self.k, "sizes": self.sizes, "candidates": self.candidates, "iterations": self.iterations,
            "compare_edge": self.compare_edge, "seconds": round(self.seconds, 1),
            "per_candidate": [
                {"k": c, "score": self.score[c], "gram_distance": self.gram_distance[c],
                 "fraction_spread": self.fraction_spread[c],
                 "fractions": {str(s): self.fractions[(c, s)] for s in self.sizes}}
                for c in self.candidates
            ],
        }


def calibrate(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    look: Look,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    iterations: int | None = None,
    device: str = "auto",
    progress: OnEvent | None = None,
) -> Calibration:
    """Measure k for this content/style pair and look (u, network, ...); `iterations` default: the look's.

    `progress` gets a `CellEvent` as each probe render starts and ends (its name: the size and ratio)."""
    sizes = sorted({int(s) for s in sizes})
    if len(sizes) < 2:
        raise UsageError("--sizes needs at least two different sizes, like 128,256.")
    if sizes[0] < 32:
        raise UsageError(f"--sizes must be at least 32 px, not {sizes[0]}.")
    cands = sorted({float(c) for c in candidates})
    if not cands or any(not (0 <= c <= 4) for c in cands):
        raise UsageError("Candidate k values must lie between 0 and 4.")
    its = iterations or look.iterations
    start = time.perf_counter()
    content_rgb = load_rgb(content, "content image")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    style_rgbs = [load_rgb(s, "style image") for s in styles]
    dev = str(_device(device))
    seed = look.seed if look.seed is not None else 0
    anchor = sizes[-1]
    # The anchor renders at the ratio the look gives it; the other sizes scale from there by each candidate.
    anchor_ratio = 10.0**look.u * (anchor / REFERENCE_EDGE) ** look.k
    net = {"network": look.network, "weights": look.weights, "pooling": look.pooling, "device": dev}
    compare = sizes[0]
    total = 1 + (len(sizes) - 1) * len(cands)
    done = 0

    def run(size: int, ratio: float) -> tuple[np.ndarray, float]:
        nonlocal done
        name, t0 = f"{size} px, ratio {ratio:.3g}", time.perf_counter()
        if progress:
            progress(CellEvent(kind="start", done=done, total=total, name=name, elapsed=t0 - start))
        # k is a property of the pair's whole-frame balance: regions (their own u, feathers in px) stay out of it.
        r_look = look.model_copy(update={"size": size, "iterations": its, "raw_ratio": True,
                                         "u": math.log10(ratio), "seed": seed, "regions": []})
        res = render(content_rgb, style_rgbs, r_look, device=dev)
        done += 1
        if progress:
            now = time.perf_counter()
            progress(CellEvent(kind="done", done=done, total=total, name=name, seconds=now - t0, elapsed=now - start,
                               loss=res.history[-1].loss if res.history else None))
        return res.image, style_fraction(res)

    a_img, a_frac = run(anchor, anchor_ratio)
    a_sig = gram_signature(a_img, compare, **net)
    gdist: dict[float, float] = {}
    fspread: dict[float, float] = {}
    fractions: dict[tuple[float, int], float] = {}
    for c in cands:
        fractions[(c, anchor)] = a_frac
        ds, fs = [], []
        for s in sizes[:-1]:
            img, frac = run(s, anchor_ratio * (s / anchor) ** c)
            fractions[(c, s)] = frac
            ds.append(signature_distance(gram_signature(img, compare, **net), a_sig))
            fs.append(abs(frac - a_frac))
        gdist[c] = float(np.mean(ds))
        fspread[c] = float(np.mean(fs))
    # Each criterion relative to its mean over the candidates, so neither dominates by its units.
    gm = np.mean(list(gdist.values())) or 1.0
    fm = np.mean(list(fspread.values())) or 1.0
    score = {c: float(gdist[c] / gm + fspread[c] / fm) for c in cands}
    return Calibration(
        k=_refine(cands, score), sizes=sizes, candidates=cands, iterations=its, compare_edge=compare,
        score=score, gram_distance=gdist, fraction_spread=fspread, fractions=fractions,
        seconds=time.perf_counter() - start,
    )


def _refine(cands: list[float], score: dict[float, float]) -> float:
    """The best candidate, moved to the vertex of a parabola through it and its neighbours (between them)."""
    i = min(range(len(cands)), key=lambda j: score[cands[j]])
    if 0 < i < len(cands) - 1:
        (x0, x1, x2) = cands[i - 1: i + 2]
        y0, y1, y2 = (score[x] for x in (x0, x1, x2))
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
        if a > 0:
            return round(float(min(max(-b / (2 * a), x0), x2)), 2)
    return cands[i]


def _device(name: str):
    return resolve_device(name)
