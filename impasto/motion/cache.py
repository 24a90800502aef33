"""The plate's motion cached on disk, one .npz per frame pair, keyed by the plate frames' content hashes, the
paint size and the flow algorithm's version: a re-render reads it back, a changed plate or size recomputes it."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from impasto.errors import ImpastoError
from impasto.files import atomic_path
from impasto.motion.flow import ALGORITHM, Motion, fit

# Flows are stored as float16, uncompressed: 3.4 MB a pair at 720×528 (zlib saved only 18 % on Megamind and cost
# 250 ms a pair). Measured float16 error: at most 0.002 px on a 3 px pan, 0.004 px on Megamind at 720×528, 0.03 px
# on a 70 px rotate-zoom-pan (its step is 1/32 px between 32 and 64 px), far below DIS's own error (0.03 px median
# on the pan). A computed flow is rounded the same way before it is returned, so a frame pair gives the same Motion
# whether it was computed now or read back.
FLOW_DTYPE = np.float16


def pair_key(prev_key: str, cur_key: str, size: tuple[int, int]) -> str:
    """The cache's name for a frame pair at a paint size (width, height), under the current algorithm."""
    text = json.dumps({"prev": prev_key, "cur": cur_key, "size": [int(size[0]), int(size[1])],
                       "algorithm": ALGORITHM, "dtype": np.dtype(FLOW_DTYPE).name}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _stored(flow: np.ndarray) -> np.ndarray:
    return np.asarray(flow).astype(FLOW_DTYPE).astype(np.float32)


class FlowCache:
    """Motions of plate frame pairs under `folder`, made on a miss and read back on a hit. `hits` and `misses`
    count this object's lookups. A cache file that cannot be read back whole is recomputed and replaced."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, prev_key: str, cur_key: str, size: tuple[int, int]) -> Path:
        return self.folder / f"{pair_key(prev_key, cur_key, size)}.npz"

    def get_or_compute(self, prev_key: str, cur_key: str, size: tuple[int, int],
                       prev_picture_fn: Callable[[], np.ndarray], cur_picture_fn: Callable[[], np.ndarray]) -> Motion:
        """The motion from plate frame `prev_key` to `cur_key` at `size` (width, height). The picture functions
        (display-referred 0-1, fitted to `size` if they are another size) are called only on a miss."""
        path = self.path(prev_key, cur_key, size)
        motion = self._read(path, size)
        if motion is not None:
            self.hits += 1
            return motion
        self.misses += 1
        prev, cur = fit(prev_picture_fn(), size), fit(cur_picture_fn(), size)
        computed = Motion.from_pictures(prev, cur)
        motion = Motion(backward=_stored(computed.backward), forward=_stored(computed.forward), mask=computed.mask)
        self._write(path, motion)
        return motion

    @staticmethod
    def _read(path: Path, size: tuple[int, int]) -> Motion | None:
        if not path.is_file():
            return None
        w, h = size
        try:
            with np.load(path, allow_pickle=False) as data:
                backward = data["backward"].astype(np.float32)
                forward = data["forward"].astype(np.float32)
                mask = data["mask"].astype(np.float32)
        except Exception:  # noqa: BLE001 - a truncated or corrupt file (zip, npy or OS errors alike) is recomputed
            return None
        if backward.shape != (h, w, 2) or forward.shape != (h, w, 2) or mask.shape != (h, w):
            return None
        if not (np.isfinite(backward).all() and np.isfinite(forward).all()):
            return None
        return Motion(backward=backward, forward=forward, mask=mask)

    def _write(self, path: Path, motion: Motion) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImpastoError(f"Could not make the flow cache folder '{self.folder}' ({exc.strerror or exc}).") from None
        # a file object: np.savez would append .npz to the temporary's bare path
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, backward=motion.backward.astype(FLOW_DTYPE), forward=motion.forward.astype(FLOW_DTYPE),
                     mask=(motion.mask > 0.5).astype(np.uint8))
