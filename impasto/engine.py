"""The Gatys optimisation: targets from content and style images, then L-BFGS or Adam on the pixels."""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from . import color
from .controls import style_ratio
from .errors import ImpastoError, OutOfMemory, UsageError
from .imageio import read_image, to_rgb
from .look import Look
from .losses import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    content_layer_loss,
    style_layer_loss,
    tv_loss,
)
from .vgg import VGGFeatures, conv_shapes, layer_names
from .weights import CAFFE, load_weights

ImageLike = str | os.PathLike | np.ndarray
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LBFGS_HISTORY = 50
LBFGS_MAX_LINE_SEARCH = 25
OUT_OF_RANGE_WEIGHT = 1.0
# The anchor's unit: an RMS departure of 0.1 (in 0-1 pixels) from the coarsest level's picture, downsampled to
# its size, costs `anchor` times the level's starting loss (the objective is divided by that loss).
ANCHOR_RMS = 0.1


@dataclass
class Progress:
    """One accepted iteration: the losses as the user sees them (unscaled)."""

    iteration: int
    iterations: int
    loss: float
    content: float
    style: float
    tv: float
    elapsed: float


@dataclass
class Result:
    image: np.ndarray  # float32 H×W×3 RGB in 0-1
    look: Look  # the look as rendered, seed filled in
    ratio: float
    weights_origin: str
    device: str
    seconds: float
    history: list[Progress] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    fp32_from: int | None = None  # bf16 only: where its line search first stalled; fp32 from there on


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"Unknown device '{name}': use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UsageError(f"Device '{name}' is not available on this machine; use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"Device '{name}' is not available on this machine; use --device cpu.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"Unknown device '{name}': use auto, cpu, cuda, cuda:N or mps.")
    return device


class FeatureNet:
    """A truncated VGG with its weights' preprocessing, on one device, frozen."""

    def __init__(self, network: str, weights: str | None, pooling: str, device: torch.device) -> None:
        w = load_weights(network, weights)
        deepest = max(list(CONTENT_LAYERS) + list(STYLE_LAYERS), key=layer_names(network).index)
        self.model = VGGFeatures(network, deepest=deepest, pooling=pooling)
        self.model.load_convs(w.tensors)
        # channels_last on CUDA: cuDNN runs NHWC convolutions fastest (tensor cores), and the Gram is then a plain
        # matmul on the H·W×C view. On the CPU it measured the same speed as NCHW (0.61 s either way, VGG19 fwd+bwd
        # at 256×192, one thread), so CPU renders stay NCHW and bit-identical to earlier versions.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model.eval().requires_grad_(False).to(device).to(memory_format=self.memory_format)
        self.origin = w.origin
        self.preprocessing = w.preprocessing
        self.device = device

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in 0-1 (1×3×H×W) to what these weights were trained on."""
        if self.preprocessing == CAFFE:
            mean = torch.tensor(CAFFE_MEAN_BGR, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
            return rgb.flip(1) * 255.0 - mean
        mean = torch.tensor(IMAGENET_MEAN, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        return (rgb - mean) / std

    def __call__(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        return self.model(self.preprocess(rgb).contiguous(memory_format=self.memory_format), layers)


@lru_cache(maxsize=4)
def feature_net(network: str, weights: str | None, pooling: str, device: str) -> FeatureNet:
    """One network per (network, weights, pooling, device) per process: shots and sweeps reuse it."""
    return FeatureNet(network, weights, pooling, torch.device(device))


def load_rgb(image: ImageLike, what: str) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return to_rgb(image, source=f"{what} array")
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    raise UsageError(f"The {what} must be a path or an H×W×3 array, not {type(image).__name__}.")


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).to(device, torch.float32).contiguous()


def to_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().squeeze(0).permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32)


def fit_size(height: int, width: int, long_edge: int) -> tuple[int, int]:
    """(h, w) scaled so the longer side is `long_edge`, aspect kept."""
    scale = long_edge / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def estimate_memory(height: int, width: int, network: str = "vgg16", optimizer: str = "lbfgs", *,
                    precision: str = "fp32") -> int:
    """Rough peak bytes for optimising an H×W image: weights, activations kept for backward, optimiser state.

    Fitted to measured CPU peaks (RSS, L-BFGS): 1024×768 VGG16 2557 MiB (estimate 2535); at 512×384 and 256×192
    VGG19, 1134 and 662 MiB (estimates 946 and 519: the process's own ~360 MiB weighs more there).
    Backward keeps each ReLU's output and each pooling's, plus transient gradients (the 1.4).
    """
    names = layer_names(network)
    deepest = names.index("relu5_1")
    shapes = conv_shapes(network)
    floats, h, w, c = 0, height, width, 3
    for name in names[: deepest + 1]:
        if name.startswith("conv"):
            c = shapes[name][0]
            floats += c * h * w  # the ReLU output after it, saved for backward
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
            floats += c * h * w
    params = sum(o * i * 9 + o for o, i, _, _ in shapes.values())
    pixels = 3 * height * width
    state = 2 * LBFGS_HISTORY * pixels + 4 * pixels if optimizer == "lbfgs" else 4 * pixels
    act_bytes = 2 if precision == "bf16" else 4
    return int(act_bytes * 1.4 * floats + 4 * (params + state)) + 300 * 2**20  # torch and the process itself


MAX_MEMORY_ENV = "IMPASTO_MAX_MEMORY"
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int:
    """'16G', '16GiB', '1500M' or a plain byte count, as bytes; a one-sentence UsageError otherwise."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in _UNITS else (t, "")
    try:
        value = float(num) * _UNITS[unit]
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"'{text}' is not a memory size; write it like 16G, 1500M or 24GiB.")
    return int(value)


def memory_cap() -> int | None:
    """The user's ceiling on memory for a render (--max-memory, or $IMPASTO_MAX_MEMORY), if any."""
    text = os.environ.get(MAX_MEMORY_ENV, "").strip()
    return parse_bytes(text) if text else None


def available_memory(device: torch.device) -> int | None:
    """Bytes a render may use on `device`: what is free, lowered to the user's cap if one is set."""
    free = _free_memory(device)
    cap = memory_cap()
    if cap is None:
        return free
    return cap if free is None else min(free, cap)


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def check_fits(height: int, width: int, look: Look, device: torch.device) -> None:
    need = estimate_memory(height, width, look.network, look.optimizer,
                           precision=resolve_precision(look.precision, device))
    free = available_memory(device)
    if free is not None and need > free:
        raise UsageError(
            f"A {width}×{height} render needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
            f"is available on {device.type}; use a smaller --size or --max-memory."
        )


def style_targets(net: FeatureNet, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> dict[str, torch.Tensor]:
    """Gram targets per style layer, blended over style images; in tiles when a style image will not fit memory."""
    from .targets import style_targets as tiled_targets

    return tiled_targets(net, styles, blend)


class _LRU:
    """A few recent style targets: sweeps, previews and shots reuse them instead of recomputing."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()

    def get(self, key: tuple) -> dict[str, torch.Tensor] | None:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: tuple, value: dict[str, torch.Tensor]) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


_TARGETS = _LRU()


def _digest(arr: np.ndarray | torch.Tensor) -> str:
    data = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else arr
    return hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()


def _targets_key(look: Look, device: str, style_rgbs, blend, style_edge: int, match_to) -> tuple:
    return (
        look.network, look.weights, look.pooling, device, style_edge, tuple(blend),
        tuple(_digest(s) for s in style_rgbs), look.preserve_color,
        None if match_to is None else _digest(match_to),
    )


def render(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    look: Look | None = None,
    *,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    snapshots: Iterable[int] = (),
    on_snapshot: Callable[[int, np.ndarray], None] | None = None,
) -> Result:
    """Stylise one image; the full record (look with its seed, losses per iteration, snapshots).

    `on_snapshot(iteration, image)` is called as each snapshot is taken, so a viewer can show the render build up.
    Coarse-to-fine (`look.levels`) and tiling (`look.tile`, or automatically when the whole image will not fit
    in memory) follow the look; snapshots of a tiled render are not taken.
    """
    look = (look or Look()).model_copy()
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles_in:
        raise UsageError("Give at least one style image.")
    blend = look.style_weights or [1.0] * len(styles_in)
    if len(blend) != len(styles_in):
        raise UsageError(f"--style-weights has {len(blend)} values for {len(styles_in)} style images.")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise UsageError("--style-weights must be non-negative and not all zero.")
    blend = [w / sum(blend) for w in blend]
    dev = resolve_device(device)
    if look.seed is None:
        look.seed = random.randrange(2**31)

    content_rgb = load_rgb(content, "content image")
    style_rgbs = [load_rgb(s, "style image") for s in styles_in]
    init_rgb = None if look.init in ("content", "noise") else load_rgb(look.init, "init image")

    h, w = fit_size(*content_rgb.shape[:2], look.size)
    tile = plan_tile(h, w, look, dev)
    try:
        with _precision_mode(dev, resolve_precision(look.precision, dev)):
            if tile:
                return _optimise_tiled(look, dev, content_rgb, style_rgbs, blend, init_rgb, (h, w), tile, progress)
            return _optimise(look, dev, content_rgb, style_rgbs, blend, init_rgb, (h, w), progress, set(snapshots),
                             on_snapshot)
    except torch.OutOfMemoryError:
        raise OutOfMemory(f"Ran out of memory on {dev.type} rendering {w}×{h}; use a smaller --size or --tile.") from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise OutOfMemory(f"Ran out of memory on {dev.type} rendering {w}×{h}; use a smaller --size or --tile.") from None
        raise


# --- precision -------------------------------------------------------------------------------------------


def resolve_precision(precision: str, device: torch.device) -> str:
    """What 'auto' means on a device: TF32 on CUDA, fp32 elsewhere; tf32 is fp32 off CUDA.

    bf16 is never chosen automatically: on the 2-core AVX512-BF16 CPU it measured slower than fp32, and it is
    unverified on GPUs (see bench/README.md).
    """
    if precision == "auto":
        return "tf32" if device.type == "cuda" else "fp32"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


@contextmanager
def _precision_mode(device: torch.device, precision: str):
    """TF32 matmuls and convolutions for this render only; restores the process's settings after."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    tf32 = precision in ("tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # fixed shapes for the whole render
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# --- the objective ---------------------------------------------------------------------------------------


@dataclass
class Problem:
    """One image's objective: the network, its targets and the style ratio; `terms(img)` gives the losses."""

    net: FeatureNet
    content: torch.Tensor  # 1×3×H×W in 0-1, the content image at this size
    p_targets: dict[str, torch.Tensor]
    a_targets: dict[str, torch.Tensor]  # per-position Gram targets (Gram / positions)
    ratio: float
    tv_weight: float
    precision: str = "fp32"
    anchor: torch.Tensor | None = None  # the coarsest level's result, which this finer level keeps (low frequencies)
    anchor_weight: float = 0.0
    fp32_from: int | None = None  # set by the optimiser when bf16 stalls and it goes on in fp32

    def anchor_penalty(self, img: torch.Tensor) -> torch.Tensor:
        """How far the image, averaged down to the anchor's size, has left the anchor (0 without one)."""
        if self.anchor is None or not self.anchor_weight:
            return torch.zeros((), device=img.device)
        # Downsampled the way impasto (and an image viewer) scales a picture: bicubic with antialiasing. With a box
        # filter instead, the final's box average matched the preview but its viewed downsample did not.
        down = F.interpolate(img, size=tuple(self.anchor.shape[-2:]), mode="bicubic", align_corners=False, antialias=True)
        return self.anchor_weight * (down - self.anchor).pow(2).mean() / ANCHOR_RMS**2

    def terms(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content, style, tv) losses of an image in 0-1; content and style at fzliu's normalisation."""
        with _autocast(img.device, self.precision):
            feats = self.net(img, set(CONTENT_LAYERS) | set(STYLE_LAYERS))
        c = sum(wt * content_layer_loss(feats[k], self.p_targets[k]) for k, wt in CONTENT_LAYERS.items())
        s = 0.0
        for k, wt in STYLE_LAYERS.items():
            _, _, fh, fw = feats[k].shape
            s = s + wt * style_layer_loss(feats[k], self.a_targets[k] * (fh * fw))
        t = tv_loss(img) if self.tv_weight else torch.zeros((), device=img.device)
        return c, s, t

    def total(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, content, ratio × style, tv_weight × tv)."""
        c, s, t = self.terms(img)
        return c + self.ratio * s + self.tv_weight * t, c, self.ratio * s, self.tv_weight * t


def build_problem(look: Look, dev: torch.device, content_rgb: np.ndarray, style_rgbs: Sequence[np.ndarray],
                  blend: Sequence[float], hw: tuple[int, int], *, style_edge: int | None = None,
                  ratio: float | None = None, content: torch.Tensor | None = None) -> Problem:
    """Targets for one size: content features at `hw`, style Grams at `style_edge` (default style_scale × long edge)."""
    precision = resolve_precision(look.precision, dev)
    net = feature_net(look.network, look.weights, look.pooling, str(dev))
    if look.compile and dev.type == "cuda":
        _compile(net)
    h, w = hw
    if content is None:
        content = resize(to_tensor(content_rgb, dev), hw)
    if style_edge is None:
        style_edge = max(32, round(look.style_scale * max(h, w)))
    match_to = content if look.preserve_color == "match" else None
    key = _targets_key(look, str(dev), style_rgbs, blend, style_edge, match_to)
    a_targets = _TARGETS.get(key)
    if a_targets is None:
        styles = []
        for rgb in style_rgbs:
            s = to_tensor(rgb, dev)
            if match_to is not None:
                s = color.match_colors(s, match_to)
            styles.append(resize(s, fit_size(*rgb.shape[:2], style_edge)))
        a_targets = style_targets(net, styles, blend)
        _TARGETS.put(key, a_targets)
    # Targets always in fp32: a bf16 render that falls back to fp32 keeps the same objective.
    with torch.inference_mode():
        p_targets = {k: v.clone() for k, v in net(content, CONTENT_LAYERS).items()}
    if ratio is None:
        ratio = style_ratio(look.u, max(h, w), look.k, look.raw_ratio)
    return Problem(net, content, p_targets, a_targets, ratio, look.tv_weight, precision)


def _compile(net: FeatureNet) -> None:
    if not getattr(net, "compiled", False):
        net.model.forward = torch.compile(net.model.forward, dynamic=False)
        net.compiled = True


def evaluate_loss(image: ImageLike, content: ImageLike, style: ImageLike | Sequence[ImageLike],
                  look: Look | None = None, *, device: str = "cpu") -> dict[str, float]:
    """The loss a render with `look` would assign to `image` (at the look's size, fp32): total, content, style, tv.

    One yardstick for images from other tools or other paths (tiles, coarse-to-fine, bf16).
    """
    look = (look or Look()).model_copy(update={"precision": "fp32"})
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = look.style_weights or [1.0] * len(styles_in)
    blend = [b / sum(blend) for b in blend]
    dev = resolve_device(device)
    content_rgb = load_rgb(content, "content image")
    hw = fit_size(*content_rgb.shape[:2], look.size)
    problem = build_problem(look, dev, content_rgb, [load_rgb(s, "style image") for s in styles_in], blend, hw)
    img = resize(to_tensor(load_rgb(image, "image"), dev), hw)
    with torch.inference_mode(), _precision_mode(dev, "fp32"):
        total, c, s, t = problem.total(img)
    return {"total": float(total), "content": float(c), "style": float(s), "tv": float(t)}


# --- the optimiser ---------------------------------------------------------------------------------------


BF16_STALL_TOLERANCE = 1e-5  # two bf16 L-BFGS iterations in a row gaining less than this (relative): go on in fp32


class _Stalled(Exception):
    """bf16 rounding stopped the line search: the caller goes on in fp32."""


def _solve(problem: Problem, x0: torch.Tensor, iterations: int, optimizer: str, lr: float | None,
           report: Callable[[int, torch.Tensor, torch.Tensor], None], offset: int = 0) -> tuple[torch.Tensor, int]:
    """Run `iterations` optimiser steps from x0; report(i, [obj, total, content, style, tv], x) after each one.

    Returns the final image and the number of iterations done (fewer only if it diverged).
    """
    x = x0.detach().clone().contiguous().requires_grad_(True)
    done = 0
    precision = problem.precision
    while done < iterations:
        try:
            done += _steps(problem, x, iterations - done, offset + done, optimizer, lr, report)
            break
        except _Stalled as stall:
            # bf16 with L-BFGS: once the line search can no longer see a decrease through the rounding, finish
            # in fp32 from where bf16 got to (the fp32 targets differ a little; the objective is rebuilt).
            done += stall.args[0]
            problem.precision = "fp32"
            problem.fp32_from = offset + done
    problem.precision = precision
    return x.detach(), done


def _steps(problem: Problem, x: torch.Tensor, iterations: int, offset: int, optimizer: str, lr: float | None,
           report) -> int:
    scale: list[float] = []  # first total loss: L-BFGS sees an O(1) objective whatever u is
    last: dict[str, object] = {}
    cache: dict[str, object] = {}
    lbfgs = optimizer == "lbfgs"

    def closure() -> torch.Tensor:
        # torch's L-BFGS re-evaluates the point its line search just accepted; answer from the cache.
        if "x" in cache and torch.equal(x.detach(), cache["x"]):
            x.grad = cache["grad"].clone()
            return cache["loss"].clone()
        if x.grad is not None:
            x.grad = None
        # The network sees the image as it will be written (clamped); the penalty walks stray pixels back
        # into range, which keeps L-BFGS's curvature pairs intact where clamping after each step would not.
        total, c, s, t = problem.total(x.clamp(0, 1))
        if not scale:
            scale.append(max(float(total.detach()), 1e-12))
        obj = (total / scale[0] + problem.anchor_penalty(x.clamp(0, 1))
               + OUT_OF_RANGE_WEIGHT * (x - x.clamp(0, 1)).pow(2).mean())
        obj.backward()
        terms = torch.stack([obj.detach(), total.detach(), c.detach(), s.detach(), t.detach()])
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=obj.detach().clone())
        if lbfgs:
            # The line search reads floats anyway; keep the lowest evaluation of this step (the accepted iterate).
            value = float(terms[0])
            if "obj" not in last or value < last["obj"]:
                last.update(obj=value, terms=terms)
        else:
            last.update(terms=terms)  # stays on the device: no host round-trip per Adam step
        return obj

    if lbfgs:
        opt = torch.optim.LBFGS(
            [x], lr=lr or 1.0, max_iter=1, max_eval=LBFGS_MAX_LINE_SEARCH + 1,
            tolerance_grad=-1.0, tolerance_change=-1.0, history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe",
        )
    else:
        opt = torch.optim.Adam([x], lr=lr or 0.02)
    good = x.detach().clone()
    previous = float("inf")
    flat = 0
    check_every = 1 if lbfgs or x.device.type != "cuda" else 16  # Adam on CUDA: no host round-trip per step
    checked = 0
    for i in range(1, iterations + 1):
        last.clear()
        opt.step(closure)
        terms = last.get("terms")
        if terms is None:
            return checked
        if i % check_every == 0 or i == iterations:
            if not (bool(torch.isfinite(terms).all()) and bool(torch.isfinite(x).all())):
                # Keep the last good iterate rather than hand back NaNs.
                with torch.no_grad():
                    x.copy_(good)
                return checked
            with torch.no_grad():
                good.copy_(x)
            checked = i
        report(offset + i, terms, x)
        if lbfgs and problem.precision == "bf16":
            flat = flat + 1 if last["obj"] >= previous * (1 - BF16_STALL_TOLERANCE) else 0
            previous = min(previous, last["obj"])
            if flat >= 2:
                raise _Stalled(i)
    return iterations


class _Recorder:
    """Turns reports into Progress records; on CUDA, reads the loss values back every few iterations only."""

    def __init__(self, iterations: int, start: float, device: torch.device, progress, every: int | None = None) -> None:
        self.iterations, self.start, self.progress = iterations, start, progress
        self.every = every or (16 if device.type == "cuda" else 1)
        self.history: list[Progress] = []
        self.pending: list[tuple[int, torch.Tensor, float]] = []

    def add(self, i: int, terms: torch.Tensor, shown: int | None = None) -> None:
        self.pending.append((i if shown is None else shown, terms, time.perf_counter() - self.start))
        if len(self.pending) >= self.every or i == self.iterations:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack([t for _, t, _ in self.pending]).tolist()
        for (i, _, elapsed), (_, total, c, s, t) in zip(self.pending, values):
            info = Progress(i, self.iterations, total, c, s, t, elapsed)
            self.history.append(info)
            if self.progress is not None:
                self.progress(info)
        self.pending.clear()


def level_sizes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    """Sizes of the coarse-to-fine levels, coarsest first, each half the next; none under 32 px on the long edge."""
    sizes = []
    for level in range(levels - 1, -1, -1):
        f = 0.5**level
        hw = (max(1, round(h * f)), max(1, round(w * f)))
        if max(hw) >= 32 or level == 0:
            sizes.append(hw)
    return sizes


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


def level_iterations(iterations: int, levels: int) -> list[int]:
    """Iterations per level, coarsest first: halving towards the finest (4:2:1 for three), at least one each."""
    if levels == 1:
        return [iterations]
    weights = [2.0 ** (levels - 1 - i) for i in range(levels)]
    counts = [max(1, int(iterations * wt / sum(weights))) for wt in weights]
    counts[-1] = max(1, iterations - sum(counts[:-1]))
    return counts


def _optimise(look, dev, content_rgb, style_rgbs, blend, init_rgb, hw, progress, snapshots, on_snapshot=None) -> Result:
    start = time.perf_counter()
    torch.manual_seed(look.seed)
    gen = torch.Generator(device="cpu").manual_seed(look.seed)
    h, w = hw
    sizes = level_sizes(h, w, look.levels)
    counts = level_iterations(look.iterations, len(sizes))
    full_content = resize(to_tensor(content_rgb, dev), hw)
    x = None
    anchor = None
    if look.preview:
        # The approved preview is the coarsest level's result: the final grows from it and does not redo it.
        x = anchor = preview_level(look.preview, sizes, dev)
        sizes, counts = sizes[1:], counts[1:]
    recorder = _Recorder(sum(counts), start, dev, progress)
    shots: dict[int, np.ndarray] = {}
    problem = None
    offset = 0
    fp32_from = None
    for level_hw, count in zip(sizes, counts):
        content = full_content if level_hw == hw else resize(to_tensor(content_rgb, dev), level_hw)
        # Once bf16 has stalled, the finer levels would stall too: they start in fp32.
        level_look = look if fp32_from is None else look.model_copy(update={"precision": "fp32"})
        problem = build_problem(level_look, dev, content_rgb, style_rgbs, blend, level_hw, content=content)
        if anchor is not None and look.anchor:
            problem.anchor, problem.anchor_weight = anchor, look.anchor
        if x is not None:
            x0 = resize(x, level_hw)  # the previous level's result, upsampled
        elif look.init == "content":
            x0 = content.clone()
        elif look.init == "noise":
            x0 = torch.rand((1, 3, *level_hw), generator=gen).to(dev)
        else:
            x0 = resize(to_tensor(init_rgb, dev), level_hw)

        def report(i: int, terms: torch.Tensor, xi: torch.Tensor) -> None:
            recorder.add(i, terms)
            if i in snapshots:
                recorder.flush()
                shots[i] = _finish(resize(xi.detach().clamp(0, 1), hw), full_content, look)
                if on_snapshot is not None:
                    on_snapshot(i, shots[i])

        x, done = _solve(problem, x0, count, look.optimizer, look.lr, report, offset)
        fp32_from = fp32_from if fp32_from is not None else problem.fp32_from
        if anchor is None:
            anchor = x.detach().clamp(0, 1)
        offset += done
        if done < count:
            break
    recorder.flush()
    if not recorder.history:
        raise ImpastoError("The optimisation diverged at its first step; try --optimizer adam or a lower u.")
    if tuple(x.shape[-2:]) != tuple(hw):
        x = resize(x, hw)
    return Result(
        image=_finish(x, full_content, look), look=look, ratio=problem.ratio, weights_origin=problem.net.origin,
        device=str(dev), seconds=time.perf_counter() - start, history=recorder.history, snapshots=shots,
        fp32_from=fp32_from,
    )


# --- memory and tiles ------------------------------------------------------------------------------------


def plan_tile(h: int, w: int, look: Look, dev: torch.device) -> int:
    """Tile long edge for an H×W render, 0 for the whole image at once; a one-sentence error if nothing fits."""
    if look.tile and look.tile < max(h, w):
        return max(look.tile, look.tile_overlap + 16)
    precision = resolve_precision(look.precision, dev)
    need = estimate_memory(h, w, look.network, look.optimizer, precision=precision)
    free = available_memory(dev)
    if free is None or need <= free:
        return 0
    tile = max(h, w)
    while tile > 256:
        tile = int(tile * 0.8)
        if estimate_memory(tile, tile, look.network, look.optimizer, precision=precision) <= free * 0.9:
            return max(tile, look.tile_overlap + 16)
    raise UsageError(
        f"A {w}×{h} render needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
        f"is available on {dev.type}, too little even for tiles; use a smaller --size."
    )


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` px covering `length` px with at least `overlap` px shared."""
    if tile >= length:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _ramp(length: int, start: int, size: int, starts: list[int], device: torch.device) -> torch.Tensor:
    """Blend weights along one axis of a tile: 1 inside, a linear ramp across each overlap with a neighbour."""
    wts = torch.ones(size, device=device)
    i = starts.index(start)
    if i > 0:
        prev_end = starts[i - 1] + size
        n = prev_end - start
        if n > 0:
            wts[:n] = torch.minimum(wts[:n], (torch.arange(n, device=device) + 0.5) / n)
    if i + 1 < len(starts):
        n = start + size - starts[i + 1]
        if n > 0:
            wts[size - n:] = torch.minimum(wts[size - n:], (n - 0.5 - torch.arange(n, device=device)) / n)
    return wts


def _optimise_tiled(look, dev, content_rgb, style_rgbs, blend, init_rgb, hw, tile, progress) -> Result:
    """Tiles with overlap sharing the whole image's style targets, started from a global low-resolution pass,
    feathered together: a frame larger than memory renders with the same look."""
    start = time.perf_counter()
    h, w = hw
    # 1. The whole frame at a size that fits: composition and colour for every tile to start from.
    coarse_edge = max(32, min(max(h, w) // 2, tile))
    # A preview stands for a whole-frame level, which a tiled frame replaces with this pass: it is not used here.
    coarse = _optimise(look.model_copy(update={"size": coarse_edge, "tile": 0, "preview": None}), dev, content_rgb, style_rgbs, blend,
                       init_rgb, fit_size(h, w, coarse_edge), None, set())
    x_init = resize(to_tensor(coarse.image, dev), hw)
    content = resize(to_tensor(content_rgb, dev), hw)
    style_edge = max(32, round(look.style_scale * max(h, w)))
    ratio = style_ratio(look.u, max(h, w), look.k, look.raw_ratio)
    th, tw = min(h, tile), min(w, tile)
    ys, xs = tile_starts(h, th, look.tile_overlap), tile_starts(w, tw, look.tile_overlap)
    out = torch.zeros_like(content)
    weight = torch.zeros((1, 1, h, w), device=dev)
    n_tiles = len(ys) * len(xs)
    history: list[Progress] = list(coarse.history)
    for p in history:
        p.iterations = look.iterations
    shown = [0]
    stalls = [coarse.fp32_from] if coarse.fp32_from is not None else []

    def report_for(k: int):
        def report(i: int, terms: torch.Tensor, _x: torch.Tensor) -> None:
            # Progress runs over the tiles as one pass of `iterations`, so a bar sized by the look still fits.
            at = max(1, round((k * look.iterations + i) / n_tiles))
            if at > shown[0]:
                shown[0] = at
                total, c, s, t = terms.tolist()[1:]
                info = Progress(at, look.iterations, total, c, s, t, time.perf_counter() - start)
                history.append(info)
                if progress is not None:
                    progress(info)
        return report

    k = 0
    for y in ys:
        for x0 in xs:
            crop = (slice(None), slice(None), slice(y, y + th), slice(x0, x0 + tw))
            # Each tile holds its share of the frame's positions: scale the ratio so the sum over tiles keeps
            # the whole image's content/style balance.
            tile_look = look if not stalls else look.model_copy(update={"precision": "fp32"})  # as for levels
            problem = build_problem(tile_look, dev, content_rgb, style_rgbs, blend, (th, tw), style_edge=style_edge,
                                    ratio=ratio * (th * tw) / (h * w), content=content[crop].contiguous())
            result, _ = _solve(problem, x_init[crop].contiguous(), look.iterations, look.optimizer, look.lr,
                               report_for(k))
            if problem.fp32_from is not None:
                stalls.append(problem.fp32_from)
            wts = _ramp(h, y, th, ys, dev).view(1, 1, th, 1) * _ramp(w, x0, tw, xs, dev).view(1, 1, 1, tw)
            out[crop] += result.clamp(0, 1) * wts
            weight[crop] += wts
            k += 1
    image = out / weight.clamp_min(1e-8)
    return Result(
        image=_finish(image, content, look), look=look, ratio=ratio, weights_origin=coarse.weights_origin,
        device=str(dev), seconds=time.perf_counter() - start, history=history, snapshots={},
        fp32_from=stalls[0] if stalls else None,
    )


def _finish(x: torch.Tensor, content: torch.Tensor, look: Look) -> np.ndarray:
    out = x.detach().clamp(0, 1)
    if look.preserve_color == "luminance":
        out = color.luminance_transfer(out, content)
    return to_array(out)


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    *,
    u: float = Look.model_fields["u"].default,
    iterations: int = Look.model_fields["iterations"].default,
    size: int = Look.model_fields["size"].default,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    **options: object,
) -> np.ndarray:
    """Paint `content` in the style of `style` (paths or float H×W×3 RGB arrays in 0-1); float32 H×W×3 RGB in 0-1.

    Other keyword options are the fields of `impasto.Look` (network, seed, style_weights, optimizer, ...).
    """
    from pydantic import ValidationError

    try:
        look = Look(u=u, iterations=iterations, size=size, **options)
    except ValidationError as exc:
        raise UsageError(_validation_sentence(exc)) from None
    return render(content, style, look, device=device, progress=progress).image


def _validation_sentence(exc) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    msg = err["msg"].removeprefix("Value error, ")
    return f"Invalid {where}: {msg}."
