"""Where a fast model plugs into the rest of impasto: the studio's u slider and `impasto render --fast`.

- `FastPreviewer`: keeps models and encoded frames in memory, so moving the u slider only runs the u-dependent
  half of the network (milliseconds at preview size); the optimisation engine still makes the final.
- `model_for_look`: the fast model that belongs to a look file (`<look>.fast.pt` beside it, or any fast model in
  the folder trained for the same style), or None.
- `FastShotRenderer`: a `ShotRenderer` that paints each frame with a fast model instead of the optimisation; the
  rest of the shot pipeline (colour, upscale, denoise, dissolve, alpha, manifest, resume) is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from impasto.errors import UsageError
from impasto.fast.core import FastModel, load_model, u_to_t
from impasto.fast.model import pad_to_multiple

MODEL_SUFFIX = ".fast.pt"


def default_model_path(look_path: str | os.PathLike) -> Path:
    """`my_look.toml` -> `my_look.fast.pt` beside it: where `fast train` output is looked for first."""
    p = Path(look_path)
    return p.with_name(p.stem + MODEL_SUFFIX)


def model_for_look(look_path: str | os.PathLike, *, search_folder: bool = True) -> Path | None:
    """The fast model trained for a look file's style, or None (never raises for a missing or foreign model)."""
    from impasto.features.net import feature_net
    from impasto.io.tensors import load_rgb
    from impasto.errors import ImpastoError
    from impasto.look import load_look

    look_path = Path(look_path)
    candidates = [default_model_path(look_path)]
    if search_folder:
        candidates += sorted(p for p in look_path.parent.glob("*.pt") if p not in candidates)
    candidates = [c for c in candidates if c.is_file()]
    if not candidates:
        return None
    try:
        lf = load_look(look_path)
        styles = [load_rgb(s if Path(s).is_absolute() else look_path.parent / s, "style image") for s in lf.styles]
        origin = feature_net(lf.look.network, lf.look.weights, lf.look.pooling, "cpu").origin
    except ImpastoError:
        return None
    for path in candidates:
        try:
            model = load_model(path)
            model.check_style(styles, lf.look, origin, look_path.name)
        except ImpastoError:
            continue
        return path
    return None


class FastPreviewer:
    """Instant previews for a slider: models and encoded frames cached, one decode per u. Thread-safe."""

    def __init__(self, device: str = "cpu", frames: int = 16) -> None:
        self.device = device
        self._models: dict[tuple[str, float], FastModel] = {}
        self._encoded: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor, tuple[int, int], torch.Tensor]] = OrderedDict()
        self._frames = frames
        self._lock = threading.Lock()

    def model(self, path: str | os.PathLike) -> FastModel:
        path = Path(path)
        key = (str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)
        with self._lock:
            if key not in self._models:
                self._models = {k: v for k, v in self._models.items() if k[0] != key[0]}
                self._models[key] = load_model(path)
            return self._models[key]

    def paint(self, model_path: str | os.PathLike, content: np.ndarray, u: float, size: int | None = None) -> np.ndarray:
        """The frame painted at u (float32 H×W×3 0-1, at `size` long edge, default the model's)."""
        from impasto.io import colour_transfer
        from impasto.io.tensors import fit_size, resize, to_array, to_tensor
        from impasto.devices import resolve_device

        model = self.model(model_path)
        model.check_u([u])
        dev = resolve_device(self.device)
        edge = int(size or model.size)
        digest = hashlib.sha1(np.ascontiguousarray(content).tobytes()).hexdigest()
        key = (str(model_path), id(model), digest, edge)
        with self._lock, torch.inference_mode():
            hit = self._encoded.get(key)
            if hit is None:
                rgb = to_tensor(np.asarray(content, dtype=np.float32), dev)
                small = resize(rgb, fit_size(*content.shape[:2], edge))
                padded, hw = pad_to_multiple(small)
                net = model.net.to(dev).eval()
                hit = (net.encode(padded), padded, hw, small)
                self._encoded[key] = hit
                while len(self._encoded) > self._frames:
                    self._encoded.popitem(last=False)
            self._encoded.move_to_end(key)
            feats, padded, (h, w), small = hit
            t = u_to_t(torch.tensor([float(u)]), model.u_range).to(dev)
            out = model.net.decode(feats, padded, t)[:, :, :h, :w]
            if model.look.preserve_color == "luminance":
                out = colour_transfer.luminance_transfer(out, small)
            return to_array(out)


def _shot_renderer_base():
    from impasto.shot.render import ShotRenderer

    return ShotRenderer


class FastShotRenderer(_shot_renderer_base()):  # type: ignore[misc]
    """A shot renderer whose frames are painted by a fast model at the shot's u (seconds per frame or less)."""

    def __init__(self, shot, model_path: str | os.PathLike, *, device: str | None = None,
                 from_previous: bool | None = None) -> None:
        from impasto.features.net import feature_net

        super().__init__(shot, device=device, from_previous=False if from_previous is None else from_previous)
        self.fast = load_model(model_path)
        self.fast.check_u([self.look.u])
        origin = feature_net(self.look.network, self.look.weights, self.look.pooling, "cpu").origin
        self.fast.check_style(self.styles, self.look, origin, f"shot {shot.name}'s look")
        digest = hashlib.sha1(Path(model_path).read_bytes()).hexdigest()[:12]
        # Fast frames are another look than optimised ones: a version never mixes the two silently.
        self.look_hash = f"{self.look_hash}-fast-{digest}"

    def paint_display(self, shown: np.ndarray, edge: int, *, init: str = "content", iterations: int | None = None,
                      on_iteration=None) -> tuple[np.ndarray, object]:
        """The fast model in place of the optimisation (init and iterations do not apply); the rest of the shot
        pipeline (colour, upscale, denoise, dissolve, alpha) is ShotRenderer's own."""
        import time

        from impasto.devices import resolve_device

        start = time.perf_counter()
        dev = str(resolve_device(self.device or "auto"))
        image = self.fast.paint(np.clip(shown, 0.0, 1.0), [self.look.u], size=edge, device=dev)[0]
        if on_iteration is not None:
            on_iteration(1, 1)
        return image, _FastResult(dev, time.perf_counter() - start)


class _FastResult:
    """What `render_frame` reads from an engine Result."""

    def __init__(self, device: str, seconds: float) -> None:
        self.device = device
        self.seconds = seconds


__all__ = ["FastPreviewer", "FastShotRenderer", "UsageError", "default_model_path", "model_for_look"]
