"""How a picture is painted, each a loop over `solve`: coarse-to-fine levels (one level: a single pass), and
overlapping tiles for frames larger than memory."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from impasto.errors import ImpastoError, UsageError
from impasto.io import colour_transfer
from impasto.io.tensors import fit_size, load_rgb, resize, to_array, to_tensor
from impasto.look import Look
from impasto.objective.controls import style_ratio
from impasto.objective.guides import Guides, GuidesAt
from impasto.objective.objective import build_objective
from impasto.optim.progress import Progress, ProgressCallback, Recorder
from impasto.optim.solve import Converged, solve


@dataclass(frozen=True, eq=False)
class Sources:
    """The pictures a render starts from, loaded: float32 H×W×3 RGB in 0-1."""

    content: np.ndarray
    styles: Sequence[np.ndarray]
    blend: Sequence[float]  # normalised weights of the style images
    init: np.ndarray | None = None  # an init image, when the look names one (or the caller gives a start)
    guides: Guides = field(default_factory=Guides)  # regions and temporal targets, at the content's size

    def guides_at(self, look: Look, hw: tuple[int, int], dev: torch.device, *,
                  crop: tuple[int, int, int, int] | None = None) -> GuidesAt | None:
        """The guides at one level's size `hw` (cropped to a tile of it if given); None when there are none."""
        if not self.guides:
            return None
        return self.guides.at(hw, dev, look.u, crop=crop, k=look.k, raw_ratio=look.raw_ratio)


@dataclass
class Painted:
    image: np.ndarray  # float32 H×W×3 RGB in 0-1
    ratio: float
    weights_origin: str
    seconds: float
    history: list[Progress] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    fp32_from: int | None = None


def level_sizes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    """Sizes of the coarse-to-fine levels, coarsest first, each half the next; none under 32 px on the long edge."""
    sizes = []
    for level in range(levels - 1, -1, -1):
        f = 0.5**level
        hw = (max(1, round(h * f)), max(1, round(w * f)))
        if max(hw) >= 32 or level == 0:
            sizes.append(hw)
    return sizes


def level_iterations(iterations: int, levels: int) -> list[int]:
    """Iterations per level, coarsest first: halving towards the finest (4:2:1 for three), at least one each."""
    if levels == 1:
        return [iterations]
    weights = [2.0 ** (levels - 1 - i) for i in range(levels)]
    counts = [max(1, int(iterations * wt / sum(weights))) for wt in weights]
    counts[-1] = max(1, iterations - sum(counts[:-1]))
    return counts


def preview_level(path: str, sizes: list[tuple[int, int]], dev: torch.device) -> torch.Tensor:
    """A preview image as the coarsest level's result; one sentence if it is not that level's size."""
    if len(sizes) < 2:
        raise UsageError("A preview stands in for the coarsest of several levels: give --levels 2 or more (impasto "
                         "preview writes a look that does), or drop --preview.")
    rgb = load_rgb(path, "preview image")
    (ph, pw), (lh, lw) = rgb.shape[:2], sizes[0]
    if abs(ph - lh) > 1 or abs(pw - lw) > 1:
        raise UsageError(f"The preview '{path}' is {pw}×{ph} but this look's coarsest level is {lw}×{lh}; render the "
                         f"preview with the final's size and a scale of 1/{2 ** (len(sizes) - 1)}, or change --levels.")
    return resize(to_tensor(rgb, dev), sizes[0])


def finish(x: torch.Tensor, content: torch.Tensor, look: Look) -> np.ndarray:
    """The optimised pixels as the picture: clamped, the content's colours kept if the look asks."""
    out = x.detach().clamp(0, 1)
    if look.preserve_color == "luminance":
        out = colour_transfer.luminance_transfer(out, content)
    return to_array(out)


def _start(look: Look, src: Sources, hw: tuple[int, int], content: torch.Tensor, gen: torch.Generator,
           dev: torch.device) -> torch.Tensor:
    if src.init is not None:
        return resize(to_tensor(src.init, dev), hw)
    if look.init == "content":
        return content.clone()
    if look.init == "noise":
        return torch.rand((1, 3, *hw), generator=gen).to(dev)
    raise UsageError(f"The look's init '{look.init}' was not loaded; give it as an image path.")


def paint(look: Look, dev: torch.device, src: Sources, hw: tuple[int, int], progress: ProgressCallback | None = None,
          snapshots: set[int] = frozenset(), on_snapshot: Callable[[int, np.ndarray], None] | None = None,
          stop: Converged | None = None) -> Painted:
    """Coarse to fine over `look.levels` (a single pass for 1), each level started from the last one upsampled;
    `stop` may end the finest level early."""
    start = time.perf_counter()
    torch.manual_seed(look.seed)
    gen = torch.Generator(device="cpu").manual_seed(look.seed)
    sizes = level_sizes(*hw, look.levels)
    counts = level_iterations(look.iterations, len(sizes))
    full_content = resize(to_tensor(src.content, dev), hw)
    x = anchor = None
    if look.preview:
        # The approved preview is the coarsest level's result: the final grows from it and does not redo it.
        x = anchor = preview_level(look.preview, sizes, dev)
        sizes, counts = sizes[1:], counts[1:]
    recorder = Recorder(sum(counts), dev, progress, start=start)
    shots: dict[int, np.ndarray] = {}
    objective = None
    offset = 0
    fp32_from = None
    for level_hw, count in zip(sizes, counts):
        content = full_content if level_hw == hw else resize(to_tensor(src.content, dev), level_hw)
        # Once bf16 has stalled, the finer levels would stall too: they start in fp32.
        level_look = look if fp32_from is None else look.model_copy(update={"precision": "fp32"})
        objective = build_objective(level_look, dev, src.content, src.styles, src.blend, level_hw, content=content,
                                    anchor=anchor, guides=src.guides_at(look, level_hw, dev))
        recorder.groups = objective.groups()
        x0 = resize(x, level_hw) if x is not None else _start(look, src, level_hw, content, gen, dev)

        def report(i: int, terms: torch.Tensor, xi: torch.Tensor) -> None:
            recorder.add(i, terms)
            if i in snapshots:
                recorder.flush()
                shots[i] = finish(resize(xi.detach().clamp(0, 1), hw), full_content, look)
                if on_snapshot is not None:
                    on_snapshot(i, shots[i])

        finest = level_hw == sizes[-1]
        solved = solve(objective, x0, count, optimizer=look.optimizer, lr=look.lr, report=report, offset=offset,
                       stop=stop if finest else None)
        x = solved.image
        fp32_from = fp32_from if fp32_from is not None else solved.fp32_from
        if anchor is None:
            anchor = x.detach().clamp(0, 1)
        offset += solved.done
        if solved.done < count:
            break
    recorder.flush()
    if not recorder.history:
        raise ImpastoError("The optimisation diverged at its first step; try --optimizer adam or a lower u.")
    if tuple(x.shape[-2:]) != tuple(hw):
        x = resize(x, hw)
    return Painted(finish(x, full_content, look), objective.ratio, objective.net.origin, time.perf_counter() - start,
                   recorder.history, shots, fp32_from)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` px covering `length` px with at least `overlap` px shared."""
    if tile >= length:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _ramp(start: int, size: int, starts: list[int], device: torch.device) -> torch.Tensor:
    """Blend weights along one axis of a tile: 1 inside, a linear ramp across each overlap with a neighbour."""
    wts = torch.ones(size, device=device)
    i = starts.index(start)
    if i > 0:
        n = starts[i - 1] + size - start
        if n > 0:
            wts[:n] = torch.minimum(wts[:n], (torch.arange(n, device=device) + 0.5) / n)
    if i + 1 < len(starts):
        n = start + size - starts[i + 1]
        if n > 0:
            wts[size - n:] = torch.minimum(wts[size - n:], (n - 0.5 - torch.arange(n, device=device)) / n)
    return wts


def paint_tiled(look: Look, dev: torch.device, src: Sources, hw: tuple[int, int], tile: int,
                progress: ProgressCallback | None = None) -> Painted:
    """Tiles with overlap sharing the whole image's style targets, started from a global low-resolution pass,
    feathered together: a frame larger than memory renders with the same look."""
    start = time.perf_counter()
    h, w = hw
    # 1. The whole frame at a size that fits: composition and colour for every tile to start from.
    coarse_edge = max(32, min(max(h, w) // 2, tile))
    # A preview stands for a whole-frame level, which a tiled frame replaces with this pass: it is not used here.
    coarse = paint(look.model_copy(update={"size": coarse_edge, "tile": 0, "preview": None}), dev, src,
                   fit_size(h, w, coarse_edge))
    x_init = resize(to_tensor(coarse.image, dev), hw)
    content = resize(to_tensor(src.content, dev), hw)
    style_edge = max(32, round(look.style_scale * max(h, w)))
    ratio = style_ratio(look.u, max(h, w), look.k, look.raw_ratio)
    th, tw = min(h, tile), min(w, tile)
    ys, xs = tile_starts(h, th, look.tile_overlap), tile_starts(w, tw, look.tile_overlap)
    out = torch.zeros_like(content)
    weight = torch.zeros((1, 1, h, w), device=dev)
    n_tiles = len(ys) * len(xs)
    recorder = Recorder(look.iterations, dev, progress, start=start, every=1)
    recorder.extend(coarse.history)
    stalls = [coarse.fp32_from] if coarse.fp32_from is not None else []
    for k, (y, x0) in enumerate((y, x0) for y in ys for x0 in xs):
        crop = (slice(None), slice(None), slice(y, y + th), slice(x0, x0 + tw))
        # Each tile holds its share of the frame's positions: scale the ratio so the sum over tiles keeps the
        # whole image's content/style balance.
        tile_look = look if not stalls else look.model_copy(update={"precision": "fp32"})  # as for levels
        objective = build_objective(tile_look, dev, src.content, src.styles, src.blend, (th, tw),
                                    style_edge=style_edge, ratio=ratio * (th * tw) / (h * w),
                                    content=content[crop].contiguous(),
                                    guides=src.guides_at(look, hw, dev, crop=(y, x0, th, tw)))
        recorder.groups = objective.groups()
        solved = solve(objective, x_init[crop].contiguous(), look.iterations, optimizer=look.optimizer, lr=look.lr,
                       report=lambda i, terms, _x, k=k: recorder.add_spread(k, n_tiles, i, terms))
        if solved.fp32_from is not None:
            stalls.append(solved.fp32_from)
        wts = _ramp(y, th, ys, dev).view(1, 1, th, 1) * _ramp(x0, tw, xs, dev).view(1, 1, 1, tw)
        out[crop] += solved.image.clamp(0, 1) * wts
        weight[crop] += wts
    recorder.flush()
    image = out / weight.clamp_min(1e-8)
    return Painted(finish(image, content, look), ratio, coarse.weights_origin, time.perf_counter() - start,
                   recorder.history, {}, stalls[0] if stalls else None)
