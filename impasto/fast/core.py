"""A trained fast model on disk and in use: file format, style identity, u range, painting frames.

A model file is one `torch.save` dict of tensors and plain values (read back with `weights_only=True`):
format and version, the network shape, its weights, and what it was trained for: the style identity (a hash
of the style images' pixels and the look's render-affecting fields), the u range, the paint size, the VGG
weights' origin, the look itself and the training record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from impasto.devices import resolve_device
from impasto.errors import UsageError
from impasto.fast.model import MULTIPLE, FastConfig, FastStyleNet, pad_to_multiple, positional_guide
from impasto.files import atomic_path
from impasto.io import colour_transfer
from impasto.io.tensors import fit_size, resize, to_array, to_tensor
from impasto.look import Look

FORMAT = "impasto-fast"
FORMAT_VERSION = 1
# The look's fields that change what a painted frame looks like (u, iterations, seed, optimiser and init
# belong to the optimisation, not to the style the network learns).
STYLE_FIELDS = ("network", "pooling", "style_weights", "style_scale", "k", "raw_ratio", "tv_weight", "preserve_color")
U_EDGE_TOLERANCE = 1e-6


def style_identity(style_rgbs: Sequence[np.ndarray], look: Look, weights_origin: str) -> str:
    """A short hash of the style images' pixels, the look's style fields and the VGG weights' origin."""
    h = hashlib.sha256()
    for rgb in style_rgbs:
        a = np.ascontiguousarray(np.asarray(rgb, dtype=np.float32))
        h.update(str(a.shape).encode())
        # Pixels quantised to 8 bits: the same painting read by another library version still matches.
        h.update(np.round(a * 255.0).astype(np.uint8).tobytes())
    fields = {k: getattr(look, k) for k in STYLE_FIELDS}
    fields["weights_origin"] = weights_origin
    h.update(json.dumps(fields, sort_keys=True).encode())
    return h.hexdigest()[:16]


def u_to_t(u: torch.Tensor | float, u_range: tuple[float, float]) -> torch.Tensor:
    """u mapped onto 0-1 over the trained range: what the network's u embedding takes."""
    lo, hi = u_range
    u = torch.as_tensor(u, dtype=torch.float32)
    return (u - lo) / max(hi - lo, 1e-6)


@dataclass
class FastModel:
    """A fast model: the network plus what it was trained for."""

    net: FastStyleNet
    u_range: tuple[float, float]
    style_id: str
    size: int  # paint long edge the model was trained at (strokes are sized for it)
    weights_origin: str
    look: Look
    styles: list[str] = field(default_factory=list)  # style image paths as given at training
    record: dict[str, Any] = field(default_factory=dict)  # training record: steps, crop, frames, losses, times

    @property
    def config(self) -> FastConfig:
        return self.net.config

    def describe_range(self) -> str:
        lo, hi = self.u_range
        return f"{lo:g} to {hi:g}"

    def check_u(self, us: Sequence[float]) -> None:
        """UsageError naming the trained range when any u lies outside it."""
        lo, hi = self.u_range
        bad = [u for u in us if not (lo - U_EDGE_TOLERANCE <= u <= hi + U_EDGE_TOLERANCE)]
        if bad:
            raise UsageError(
                f"u {bad[0]:g} is outside this model's trained range {self.describe_range()}; "
                f"pick a u in that range or train a model that covers it."
            )

    def check_style(self, style_rgbs: Sequence[np.ndarray], look: Look, weights_origin: str, source: str) -> None:
        """UsageError when a look's style (images, style fields, VGG weights) is not the one this model learnt."""
        if style_identity(style_rgbs, look, weights_origin) != self.style_id:
            raise UsageError(
                f"This fast model was trained for another style than {source} (style images, style settings or "
                f"VGG weights differ); train one for it with impasto fast train."
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": self.config.as_dict(),
            "state": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "u_range": [float(self.u_range[0]), float(self.u_range[1])],
            "style_id": self.style_id,
            "size": int(self.size),
            "weights_origin": self.weights_origin,
            "look": json.dumps(self.look.model_dump(mode="json")),
            "styles": list(self.styles),
            "record": json.dumps(self.record),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temporary name, then rename)."""
        return save_dict(path, self.to_dict())

    # -------------------------------------------------------------------------------- painting
    def paint(self, rgb: np.ndarray, us: Sequence[float], *, size: int | None = None, device: str = "cpu",
              chunk: int | None = None) -> list[np.ndarray]:
        """Paint one frame (float H×W×3 0-1) at each u: the frame is encoded once, the u-dependent half runs per u.

        `size` is the long edge painted at (default: the model's training size); images come back at that size.
        """
        us = [float(u) for u in us]
        self.check_u(us)
        dev = resolve_device(device)
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise UsageError(f"A frame to paint must be H×W×3 RGB, not shape {rgb.shape}.")
        edge = int(size or self.size)
        if edge < MULTIPLE * 4:
            raise UsageError(f"The paint size must be at least {MULTIPLE * 4} px, not {edge}.")
        hw = fit_size(*rgb.shape[:2], edge)
        net = self.net.to(dev).eval()
        content = resize(to_tensor(rgb, dev), hw)
        padded, (h, w) = pad_to_multiple(content)
        # Keep the per-u batch within a few hundred MB of activations (big frames, long sweeps).
        per_u = 4 * padded.shape[-2] * padded.shape[-1] * self.config.width * 3
        n = chunk or max(1, min(len(us), int(512 * 2**20 // max(per_u, 1))))
        out: list[np.ndarray] = []
        with torch.inference_mode():
            feats = net.encode(padded, frame_guide(net, h, w, padded))
            for i in range(0, len(us), n):
                t = u_to_t(torch.tensor(us[i:i + n]), self.u_range).to(dev)
                painted = net.decode(feats, padded, t)[:, :, :h, :w]
                for j in range(painted.shape[0]):
                    one = painted[j:j + 1]
                    if self.look.preserve_color == "luminance":
                        one = colour_transfer.luminance_transfer(one, content)
                    out.append(to_array(one))
        return out


def frame_guide(net: FastStyleNet, h: int, w: int, like: torch.Tensor) -> torch.Tensor | None:
    """A network's position channels for an H×W frame, padded as the frame is (None for a network without)."""
    if not net.config.positional:
        return None
    return pad_to_multiple(positional_guide(h, w, net.config.positional, like))[0]


def save_dict(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """`data` as a torch file, written atomically; a failed write is one UsageError sentence."""
    path = Path(path)
    with atomic_path(path, error=UsageError) as tmp:
        torch.save(data, tmp)
    return path


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UsageError(f"Fast model '{path}' does not exist.")
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder, not a fast model file.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch errors all mean the same to a user
        raise UsageError(f"'{path}' is not a readable impasto fast model (corrupt or another kind of file: "
                         f"{_first_line(exc)}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"'{path}' is not an impasto fast model (made by impasto fast train).")
    if data.get("version") != FORMAT_VERSION:
        raise UsageError(f"Fast model '{path}' has format version {data.get('version')}; this impasto reads version {FORMAT_VERSION}.")
    return data


def load_model(path: str | os.PathLike) -> FastModel:
    """Read a model file; any problem is one UsageError sentence."""
    data = _read(Path(path))
    try:
        config = FastConfig(**data["config"])
        net = FastStyleNet(config)
        net.load_state_dict(data["state"])
        look = Look.model_validate(json.loads(data["look"]))
        lo, hi = (float(v) for v in data["u_range"])
        return FastModel(
            net=net.eval(), u_range=(lo, hi), style_id=str(data["style_id"]), size=int(data["size"]),
            weights_origin=str(data["weights_origin"]), look=look, styles=[str(s) for s in data.get("styles", [])],
            record=json.loads(data.get("record") or "{}"),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise UsageError(f"Fast model '{path}' is damaged ({_first_line(exc)}).") from None


def _first_line(exc: Exception) -> str:
    """An exception's first line (at most 120 characters), else its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__
