"""Style targets (per-position Gram matrices), computed in tiles when the style image is too large for memory.

A Gram matrix is a sum over positions, so it splits exactly over a partition of the positions: each tile is run
through the network with a halo of context around it, and only the positions of its own interior are summed at
every layer. With interiors on a 16 px grid (VGG's deepest pooling stride) and a halo wider than relu5_1's
dependency cone, the tiled Grams equal the whole image's up to float rounding.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from impasto.devices import available_memory
from impasto.features.vgg import conv_shapes, layer_names
from impasto.io import colour_transfer
from impasto.io.tensors import fit_size, resize, to_tensor
from impasto.lru import LRU
from impasto.objective.losses import STYLE_LAYERS, gram

if TYPE_CHECKING:
    from impasto.features.net import FeatureNet

ALIGN = 16  # the pooling stride at relu5_1: tile interiors start on this grid so every layer's grid lines up
OVERHEAD = 300 * 2**20  # torch and the process itself, as in optim.memory.estimate_memory


def layer_stride(network: str, layer: str) -> int:
    """Input pixels per position of `layer` (1, 2, 4, 8, 16 for relu1_1 ... relu5_1)."""
    names = layer_names(network)
    return 2 ** sum(1 for n in names[: names.index(layer)] if n.startswith("pool"))


def context_radius(network: str, layer: str) -> int:
    """Input pixels beyond a position's own block that can influence `layer` there (58 px for VGG16 relu5_1)."""
    names = layer_names(network)
    radius, stride = 0, 1
    for name in names[: names.index(layer) + 1]:
        if name.startswith("conv"):
            radius += stride  # a 3×3 convolution reaches one position further on each side
        elif name.startswith("pool"):
            stride *= 2  # 2×2 stride-2 pooling stays inside its block: no reach, coarser grid
    return radius


def default_halo(network: str, layers: Iterable[str]) -> int:
    """Context around each tile: the deepest layer's radius rounded up to the 16 px grid (64 px for VGG16)."""
    r = max(context_radius(network, k) for k in layers)
    return ALIGN * math.ceil(r / ALIGN)


def _peak_floats_per_pixel(network: str) -> float:
    """Floats alive per input pixel at the worst point of a streamed inference pass (two activations at a time)."""
    names = layer_names(network)
    deepest = max(STYLE_LAYERS, key=names.index)
    shapes = conv_shapes(network)
    peak, c, area = 0.0, 3, 1.0
    for name in names[: names.index(deepest) + 1]:
        if name.startswith("conv"):
            c_out = shapes[name][0]
            peak = max(peak, (c + c_out) * area)  # input and output alive together
            c = c_out
        elif name.startswith("relu"):
            peak = max(peak, 2 * c * area)  # not in place: the convolution's output and the ReLU's
        else:
            peak = max(peak, c * area * 1.25)
            area /= 4
    # The RGB tile and its preprocessed copies; then the convolutions' working buffers: measured peaks on the CPU
    # (RSS over the process before the pass) were 196 floats per pixel for one pass (512² to 1472×1328) and 231
    # per padded tile pixel over 15 tiles of a 6000×4000 image (allocator fragmentation), against 140 counted here.
    return (peak + 12) * 1.65


def estimate_style_memory(h: int, w: int, network: str = "vgg16", precision: str = "fp32") -> int:
    """Rough peak bytes of the inference-only style pass over an H×W image: weights plus ~2 live activations."""
    act_bytes = 2 if precision == "bf16" else 4
    params = sum(o * i * 9 + o for o, i, _, _ in conv_shapes(network).values())
    return int(act_bytes * _peak_floats_per_pixel(network) * h * w + 4 * params) + OVERHEAD


def style_tile_pixels(free_bytes: int, network: str = "vgg16", precision: str = "fp32") -> int:
    """The most pixels (halo included) one pass of the style network may take to stay within `free_bytes`."""
    params = sum(o * i * 9 + o for o, i, _, _ in conv_shapes(network).values())
    act_bytes = 2 if precision == "bf16" else 4
    spare = free_bytes - 4 * params  # `free_bytes` is what this process may still take: its own overhead is paid
    return max(0, int(spare / (act_bytes * _peak_floats_per_pixel(network))))


def _spans(length: int, count: int) -> list[tuple[int, int]]:
    """`count` interiors covering 0..length, all starts on the 16 px grid, the last one ending at `length`."""
    size = ALIGN * math.ceil(length / count / ALIGN)
    spans = [(s, min(s + size, length)) for s in range(0, length, size)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < ALIGN:
        # A sliver under 16 px has no position at relu5_1 and cannot be pooled on its own: join it to its neighbour.
        spans[-2:] = [(spans[-2][0], length)]
    return spans


def _padded(length: int, count: int, halo: int) -> tuple[int, int]:
    """(largest, total) padded extent of `count` tiles along an axis of `length` px."""
    sizes = [min(length, e + halo) - max(0, s - halo) for s, e in _spans(length, count)]
    return max(sizes), sum(sizes)


def tile_grid(h: int, w: int, max_pixels: int, halo: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Interiors ((y0, y1), (x0, x1)) of tiles whose padded size stays within `max_pixels` pixels, chosen for the
    least computation (padded pixels summed over tiles: the halo is computed twice)."""
    rows = [_padded(h, n, halo) for n in range(1, math.ceil(h / ALIGN) + 1)]
    cols = [_padded(w, n, halo) for n in range(1, math.ceil(w / ALIGN) + 1)]
    best: tuple[int, int, int] | None = None  # (padded pixels in all, ny, nx)
    for ny, (th, total_h) in enumerate(rows, start=1):
        for nx, (tw, total_w) in enumerate(cols, start=1):
            if th * tw <= max_pixels:  # more columns than the first that fits only add halo
                if best is None or total_h * total_w < best[0]:
                    best = (total_h * total_w, ny, nx)
                break
    # Nothing fits: the smallest tiles there are (16 px interiors); the caller asked for more than memory allows.
    _, ny, nx = best or (0, len(rows), len(cols))
    return [(ys, xs) for ys in _spans(h, ny) for xs in _spans(w, nx)]


def _grams_streamed(net: FeatureNet, image: torch.Tensor, layers: Sequence[str],
                    boxes: dict[str, tuple[int, int, int, int]] | None = None
                    ) -> dict[str, tuple[torch.Tensor, int]]:
    """(unnormalised Gram, positions) of `layers`, each over its box (y0, y1, x0, x1 on that layer's grid) or all.

    Runs the stack itself rather than `net(...)`, so each activation is dropped once the next layer has it: the
    peak is two activations, not every style layer's kept until the end.
    """
    wanted = set(layers)
    out: dict[str, tuple[torch.Tensor, int]] = {}
    x = net.preprocess(image).contiguous(memory_format=net.memory_format)
    for name, module in net.model.layers.items():
        x = module(x)
        if name in wanted:
            f = x
            if boxes is not None:
                y0, y1, x0, x1 = boxes[name]
                f = x[:, :, y0:y1, x0:x1]
            out[name] = gram(f), f.shape[-2] * f.shape[-1]
            if len(out) == len(wanted):
                break
    return out


def style_grams(net: FeatureNet, image: torch.Tensor, layers: Iterable[str] = STYLE_LAYERS, *,
                max_pixels: int | None = None, halo: int | None = None) -> dict[str, torch.Tensor]:
    """Per-position Gram (Gram / positions, fp32) of each layer for one 1×3×H×W image in 0-1.

    Whole when H·W ≤ `max_pixels` (None: as many as the device's free memory allows), else in tiles with a
    `halo` of context (default: the deepest layer's reach, rounded to 16 px) that sum to the same Grams.
    """
    layers = list(layers)
    network = net.model.network
    _, _, h, w = image.shape
    if max_pixels is None:
        free = available_memory(image.device)
        # Half of what is free: the render that follows and other processes need the rest.
        max_pixels = h * w if free is None else style_tile_pixels(free // 2, network)
    with torch.inference_mode():
        if h * w <= max_pixels:
            # Grams scale with position count; normalise so images of other sizes blend fairly.
            return {k: g / n for k, (g, n) in _grams_streamed(net, image, layers).items()}
        halo = default_halo(network, layers) if halo is None else ALIGN * math.ceil(halo / ALIGN)
        sums: dict[str, torch.Tensor] = {}
        counts = dict.fromkeys(layers, 0)
        for (y0, y1), (x0, x1) in tile_grid(h, w, max_pixels, halo):
            # The padded tile starts on the 16 px grid too (halo is a multiple of 16), so its pooling grid is the
            # whole image's; clipped at the image's edges, where the whole image has the same zero padding.
            py0, px0 = max(0, y0 - halo), max(0, x0 - halo)
            py1, px1 = min(h, y1 + halo), min(w, x1 + halo)
            boxes = {}
            for k in layers:
                s = layer_stride(network, k)
                # Interior on this layer's grid; the end at the image's edge is floored like the whole image's.
                boxes[k] = ((y0 - py0) // s, (y1 // s) - py0 // s, (x0 - px0) // s, (x1 // s) - px0 // s)
            tile = image[:, :, py0:py1, px0:px1]
            for k, (g, n) in _grams_streamed(net, tile, layers, boxes).items():
                counts[k] += n
                # fp64 sums: a huge image adds hundreds of tiles of large values
                sums[k] = sums[k] + g.double() if k in sums else g.double()
        return {k: (sums[k] / max(counts[k], 1)).float() for k in layers}


def style_targets(net: FeatureNet, styles: Sequence[torch.Tensor], blend: Sequence[float], *,
                  max_pixels: int | None = None) -> dict[str, torch.Tensor]:
    """Gram targets per style layer, blended over style images (same minimiser as a weighted sum of losses)."""
    targets: dict[str, torch.Tensor] = {}
    for image, wt in zip(styles, blend):
        for layer, g in style_grams(net, image, STYLE_LAYERS, max_pixels=max_pixels).items():
            targets[layer] = targets[layer] + wt * g if layer in targets else wt * g
    # Cloned outside inference mode: ordinary tensors the render's autograd graph may use.
    return {k: v.float().clone() for k, v in targets.items()}


_CACHE: LRU[tuple, dict[str, torch.Tensor]] = LRU(8)


def _digest(arr: np.ndarray | torch.Tensor) -> str:
    data = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else arr
    return hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()


def cached_style_targets(net: FeatureNet, style_rgbs: Sequence[np.ndarray], blend: Sequence[float], style_edge: int,
                         preserve_color: str = "none", match_to: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """`style_targets` of the style images at `style_edge` px, recoloured to `match_to` if given; the last few are
    kept, so sweeps, previews and shots do not recompute them."""
    key = (*net.key, style_edge, tuple(blend), tuple(_digest(s) for s in style_rgbs), preserve_color,
           None if match_to is None else _digest(match_to))
    found = _CACHE.get(key)
    if found is not None:
        return found
    styles = []
    for rgb in style_rgbs:
        s = to_tensor(rgb, net.device)
        if match_to is not None:
            s = colour_transfer.match_colors(s, match_to)
        styles.append(resize(s, fit_size(*rgb.shape[:2], style_edge)))
    return _CACHE.put(key, style_targets(net, styles, blend))
