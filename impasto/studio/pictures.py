"""Pictures the studio shows: shrunk to an edge, image headers read without pixels, and a thread-safe LRU of them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch

from impasto.io.tensors import fit_size, resize, to_array, to_tensor
from impasto.lru import LRU

V = TypeVar("V")


def small(rgb: np.ndarray, edge: int) -> np.ndarray:
    """`rgb` with its long edge at most `edge` (the engine's resize: antialiased bicubic)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= edge:
        return rgb
    return to_array(resize(to_tensor(rgb, torch.device("cpu")), fit_size(h, w, edge)))


def quick_png(rgb: np.ndarray) -> bytes:
    """Float H×W×3 RGB in 0-1 as 8-bit PNG bytes, lightly compressed: the slider's pictures, asked for many times a
    second (at 512 px a third of the time of `impasto.studio.jobs.encode_png`, the same pixels, a few % larger)."""
    import cv2  # deferred: only the slider needs it

    rgb8 = (np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb8[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG")
    return data.tobytes()


def file_key(path: Path, *more: Hashable) -> tuple:
    """A cache key that changes when the file does: its path, size and modification time, then `more`."""
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, *more)


class SharedLRU(Generic[V]):
    """An `LRU` the request threads share: looked up and filled under a lock, the value made outside it."""

    def __init__(self, size: int) -> None:
        self._lru: LRU[tuple, V] = LRU(size)
        self._lock = threading.Lock()

    def get_or_make(self, key: tuple, make: Callable[[], V]) -> V:
        with self._lock:
            hit = self._lru.get(key)
        if hit is not None:
            return hit
        value = make()  # slow (decoding, resizing): other requests go on meanwhile
        with self._lock:
            return self._lru.put(key, value)
