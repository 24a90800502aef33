"""The Gatys optimisation: targets from content and style images, then L-BFGS or Adam on the pixels."""

from __future__ import annotations

import hashlib
import os
import random
from collections import OrderedDict
import time
from collections.abc import Callable, Iterable, Sequence
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
from .losses import CONTENT_LAYERS, STYLE_LAYERS, content_layer_loss, gram, style_layer_loss, tv_loss
from .vgg import VGGFeatures, conv_shapes, layer_names
from .weights import CAFFE, load_weights

ImageLike = str | os.PathLike | np.ndarray
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LBFGS_HISTORY = 50
LBFGS_MAX_LINE_SEARCH = 25
OUT_OF_RANGE_WEIGHT = 1.0


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
        self.model.eval().requires_grad_(False).to(device)
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
        return self.model(self.preprocess(rgb), layers)


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


def estimate_memory(height: int, width: int, network: str = "vgg16", optimizer: str = "lbfgs") -> int:
    """Rough peak bytes for optimising an H×W image: weights, activations kept for backward, optimiser state."""
    names = layer_names(network)
    deepest = names.index("relu5_1")
    shapes = conv_shapes(network)
    floats, h, w, c = 0, height, width, 3
    for name in names[: deepest + 1]:
        if name.startswith("conv"):
            c = shapes[name][0]
            floats += 2 * c * h * w  # conv output and relu output
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
            floats += c * h * w
    params = sum(o * i * 9 + o for o, i, _, _ in shapes.values())
    pixels = 3 * height * width
    state = 2 * LBFGS_HISTORY * pixels + 4 * pixels if optimizer == "lbfgs" else 4 * pixels
    # backward holds a gradient as large as the largest activations at once, on top of the saved ones
    return 4 * int(1.6 * floats + params + state) + 256 * 2**20


def available_memory(device: torch.device) -> int | None:
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
    need = estimate_memory(height, width, look.network, look.optimizer)
    free = available_memory(device)
    if free is not None and need > free:
        raise UsageError(
            f"A {width}×{height} render needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
            f"is free on {device.type}; use a smaller --size."
        )


def style_targets(net: FeatureNet, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> dict[str, torch.Tensor]:
    """Gram targets per style layer, blended over style images (same minimiser as a weighted sum of losses)."""
    targets: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for image, w in zip(styles, blend):
            feats = net(image, STYLE_LAYERS)
            for layer, f in feats.items():
                _, c, h, wd = f.shape
                # Grams scale with position count; normalise so images of other sizes blend fairly.
                g = gram(f) / (h * wd)
                targets[layer] = targets.get(layer, 0) + w * g
    return {k: v.clone() for k, v in targets.items()}


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
    check_fits(h, w, look, dev)
    try:
        return _optimise(look, dev, content_rgb, style_rgbs, blend, init_rgb, (h, w), progress, set(snapshots), on_snapshot)
    except torch.OutOfMemoryError:
        raise OutOfMemory(f"Ran out of memory on {dev.type} rendering {w}×{h}; use a smaller --size.") from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise OutOfMemory(f"Ran out of memory on {dev.type} rendering {w}×{h}; use a smaller --size.") from None
        raise


def _optimise(look, dev, content_rgb, style_rgbs, blend, init_rgb, hw, progress, snapshots, on_snapshot=None) -> Result:
    start = time.perf_counter()
    torch.manual_seed(look.seed)
    gen = torch.Generator(device="cpu").manual_seed(look.seed)
    net = feature_net(look.network, look.weights, look.pooling, str(dev))
    h, w = hw
    content = resize(to_tensor(content_rgb, dev), hw)
    style_edge = max(32, round(look.style_scale * max(h, w)))
    key = _targets_key(look, str(dev), style_rgbs, blend, style_edge, content if look.preserve_color == "match" else None)
    a_targets = _TARGETS.get(key)
    if a_targets is None:
        styles = []
        for rgb in style_rgbs:
            s = to_tensor(rgb, dev)
            if look.preserve_color == "match":
                s = color.match_colors(s, content)
            styles.append(resize(s, fit_size(*rgb.shape[:2], style_edge)))
        a_targets = style_targets(net, styles, blend)
        _TARGETS.put(key, a_targets)
    with torch.inference_mode():
        p_targets = {k: v.clone() for k, v in net(content, CONTENT_LAYERS).items()}
    ratio = style_ratio(look.u, max(h, w), look.k, look.raw_ratio)

    if look.init == "content":
        x0 = content.clone()
    elif look.init == "noise":
        x0 = torch.rand(content.shape, generator=gen).to(dev)
    else:
        x0 = resize(to_tensor(init_rgb, dev), hw)
    x = x0.contiguous().clone().requires_grad_(True)
    layers = set(CONTENT_LAYERS) | set(STYLE_LAYERS)

    def terms(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = net(img, layers)
        c = sum(wt * content_layer_loss(feats[k], p_targets[k]) for k, wt in CONTENT_LAYERS.items())
        s = 0.0
        for k, wt in STYLE_LAYERS.items():
            _, _, fh, fw = feats[k].shape
            s = s + wt * style_layer_loss(feats[k], a_targets[k] * (fh * fw))
        t = tv_loss(img) if look.tv_weight else torch.zeros((), device=img.device)
        return c, s, t

    scale: list[float] = []  # first total loss: L-BFGS sees an O(1) objective whatever u is
    last: dict[str, float] = {}
    cache: dict[str, torch.Tensor | float] = {}

    def closure() -> torch.Tensor:
        # torch's L-BFGS re-evaluates the point its line search just accepted; answer from the cache.
        if "x" in cache and torch.equal(x.detach(), cache["x"]):
            x.grad = cache["grad"].clone()
            return torch.tensor(cache["loss"])
        if x.grad is not None:
            x.grad = None
        # The network sees the image as it will be written (clamped); the penalty walks stray pixels back
        # into range, which keeps L-BFGS's curvature pairs intact where clamping after each step would not.
        c, s, t = terms(x.clamp(0, 1))
        total = c + ratio * s + look.tv_weight * t
        if not scale:
            scale.append(max(float(total.detach()), 1e-12))
        obj = total / scale[0] + OUT_OF_RANGE_WEIGHT * (x - x.clamp(0, 1)).pow(2).mean()
        obj.backward()
        value = float(obj.detach())
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=value)
        if not last or value < last["obj"] or not record_min[0]:
            last.update(obj=value, loss=float(total.detach()), content=float(c.detach()), style=ratio * float(s.detach()), tv=look.tv_weight * float(t.detach()))
        return obj

    record_min = [True]
    if look.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [x], lr=look.lr or 1.0, max_iter=1, max_eval=LBFGS_MAX_LINE_SEARCH + 1,
            tolerance_grad=-1.0, tolerance_change=-1.0, history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe",
        )
    else:
        opt = torch.optim.Adam([x], lr=look.lr or 0.02)
        record_min[0] = False

    history: list[Progress] = []
    shots: dict[int, np.ndarray] = {}
    good = x.detach().clone()
    for i in range(1, look.iterations + 1):
        last.clear()
        opt.step(closure)
        if not np.isfinite(last.get("obj", float("nan"))) or not torch.isfinite(x).all():
            # Keep the last good iterate rather than hand back NaNs.
            with torch.no_grad():
                x.copy_(good)
            break
        with torch.no_grad():
            good.copy_(x)
        info = Progress(i, look.iterations, last["loss"], last["content"], last["style"], last["tv"], time.perf_counter() - start)
        history.append(info)
        if i in snapshots:
            shots[i] = _finish(x, content, look)
            if on_snapshot is not None:
                on_snapshot(i, shots[i])
        if progress is not None:
            progress(info)
    if not history:
        raise ImpastoError("The optimisation diverged at its first step; try --optimizer adam or a lower u.")
    return Result(
        image=_finish(x, content, look), look=look, ratio=ratio, weights_origin=net.origin,
        device=str(dev), seconds=time.perf_counter() - start, history=history, snapshots=shots,
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
