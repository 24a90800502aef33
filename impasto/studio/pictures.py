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
