"""Where a fast model plugs into the rest of impasto: the studio's u slider and `impasto render --fast`.

- `FastPreviewer`: keeps models and encoded frames in memory, so moving the u slider only runs the u-dependent
  half of the network (milliseconds at preview size); the optimisation engine still makes the final.
- `model_for_look`: the fast model that belongs to a look file (`<look>.fast.pt` beside it, or any fast model in
  the folder trained for the same style), or None.
- `FastPainter`: a shot `Painter` (impasto.shot.painter) that paints each frame with a fast model instead of the
  optimisation; the rest of the shot pipeline (colour, upscale, denoise, dissolve, alpha, manifest, resume) is the
  shot renderer's, unchanged. `FastShotRenderer` builds a `ShotRenderer` with one.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from impasto.devices import resolve_device
from impasto.errors import ImpastoError, UsageError
from impasto.fast.core import FastModel, frame_guide, load_model, u_to_t
from impasto.fast.model import pad_to_multiple
from impasto.features.net import feature_net
from impasto.files import file_digest
from impasto.io import colour_transfer
from impasto.io.tensors import fit_size, load_rgb, resize, to_array, to_tensor
from impasto.look import Look, load_look
from impasto.lru import LRU
from impasto.shot.config import Shot
from impasto.shot.painter import OnIteration, Painted
from impasto.shot.render import ShotRenderer

MODEL_SUFFIX = ".fast.pt"


def default_model_path(look_path: str | os.PathLike) -> Path:
    """`my_look.toml` -> `my_look.fast.pt` beside it: where `fast train` output is looked for first."""
    p = Path(look_path)
    return p.with_name(p.stem + MODEL_SUFFIX)


def model_for_look(look_path: str | os.PathLike, *, search_folder: bool = True) -> Path | None:
    """The fast model trained for a look file's style, or None (never raises for a missing or foreign model)."""
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
        self._encoded: LRU[tuple, tuple[torch.Tensor, torch.Tensor, tuple[int, int], torch.Tensor]] = LRU(frames)
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
                hit = self._encoded.put(key, (net.encode(padded, frame_guide(net, *hw, padded)), padded, hw, small))
            feats, padded, (h, w), small = hit
            t = u_to_t(torch.tensor([float(u)]), model.u_range).to(dev)
            out = model.net.decode(feats, padded, t)[:, :, :h, :w]
            if model.look.preserve_color == "luminance":
                out = colour_transfer.luminance_transfer(out, small)
            return to_array(out)


class FastPainter:
    """A shot `Painter`: a fast model at the look's u (seconds per frame or less) in place of the optimisation.

    Refuses (one sentence) a model trained for another style or a u outside its range. Its frames are another
    look than optimised ones (`look_tag`), so a version never mixes the two silently.
    """

    def __init__(self, model_path: str | os.PathLike, look: Look, styles: list[np.ndarray], device: str = "auto",
                 source: str = "the look") -> None:
        self.model = load_model(model_path)
        self.model.check_u([look.u])
        origin = feature_net(look.network, look.weights, look.pooling, "cpu").origin
        self.model.check_style(styles, look, origin, source)
        self.u, self.device = look.u, device
        self.look_tag = f"-fast-{file_digest(model_path, 'sha1')[:12]}"

    def paint(self, shown: np.ndarray, edge: int, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: OnIteration | None = None, guides: object = None, stop: object = None) -> Painted:
        """One fast pass (init, iterations, guides and stop are the optimisation's)."""
        return one_pass(self.model, self.u, self.device, shown, edge, on_iteration)

    def close(self) -> None:
        pass


def one_pass(model: FastModel, u: float, device: str, shown: np.ndarray, edge: int,
             on_iteration: OnIteration | None = None) -> Painted:
    """`shown` painted by `model` at u and long edge `edge`, as a shot painter's `Painted` (one "iteration")."""
    start = time.perf_counter()
    dev = str(resolve_device(device or "auto"))
    image = model.paint(np.clip(shown, 0.0, 1.0), [u], size=edge, device=dev)[0]
    if on_iteration is not None:
        on_iteration(1, 1)
    return Painted(image, dev, time.perf_counter() - start)


def FastShotRenderer(shot: Shot, model_path: str | os.PathLike, *, device: str | None = None,  # noqa: N802 - reads as the class it was
                     from_previous: bool | None = None) -> ShotRenderer:
    """A `ShotRenderer` whose frames are painted by the fast model at `model_path` (`impasto render --fast`).

    Frames start from the plate unless `from_previous` says otherwise (a fast model has no start to take)."""
    look, style_paths = shot.resolved_look()
    styles = [load_rgb(p, "style image") for p in style_paths]
    painter = FastPainter(model_path, look, styles, device or shot.render.device, f"shot {shot.name}'s look")
    return ShotRenderer(shot, painter=painter, device=device, from_previous=False if from_previous is None else from_previous)


__all__ = ["FastPainter", "FastPreviewer", "FastShotRenderer", "UsageError", "default_model_path", "model_for_look"]
