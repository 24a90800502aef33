"""Shots painted from keyframes (`[render] learned = N`, `impasto render --learned N`).

Frames 0, N, 2N… of the shot's frame list and its last frame are painted by the optimisation as at boil 0; a
painter is learned from them (the plan's "train" task, after those frames); it paints the other frames. The
learning itself is not here: the shot layer sits below `impasto.fast`, so the caller injects a `Trainer`
(`impasto.fast.learn.ShotTrainer`), which learns a painter from pictures and loads one as a shot `Painter`.

Identity: the version's look hash carries `+learnedN`; the painter's id is a digest of that hash and the
keyframes' written files, so changed keyframes mean another painter (learned again) and the frames of the old
one are painted again. Its file is `render/.learned/vNNN/painter-<id>.pt` (its checkpoint beside it, so a killed
training resumes); the manifest records each learned frame's painter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from impasto.shot.config import Shot
from impasto.shot.painter import Painter
from impasto.shot.plan import keyframes

TRAIN = "train"  # the plan's task key of the painter's learning
WAIT_POLL = 2.0  # seconds between looks at a painter another render is learning


@dataclass(frozen=True)
class KeyPicture:
    """One keyframe as the painter learns it: the frame as painted from (display-referred, paint size) and its
    painting (same size)."""

    frame: int
    shown: np.ndarray
    painted: np.ndarray


@runtime_checkable
class Trainer(Protocol):
    """Learns a painter from a shot's keyframes and loads one (injected: `impasto.fast.learn.ShotTrainer`)."""

    def train(self, pictures: Sequence[KeyPicture], u: float, output: Path,
              progress: Callable[[Any], None] | None = None) -> None:
        """Learn a painter of the shot's look at `u` from `pictures`; write it to `output` (atomically; a
        checkpoint beside it resumes a killed run). `progress` gets the learning's step events."""
        ...

    def painter(self, path: Path) -> Painter:
        """The painter in the file `path` wrote by `train`, as a shot `Painter`."""
        ...


def learned_keyframes(frames: Sequence[int], every: int) -> list[int]:
    """Frames 0, every, 2·every… of the shot's frame list and its last frame: the ones the optimisation paints."""
    return keyframes(frames, every, last=True)


def painter_id(look_hash: str, every: int, digests: Mapping[int, str]) -> str:
    """The id of the painter learned from keyframes whose written files have `digests` (frame -> digest)."""
    h = hashlib.sha256(f"{look_hash}|{every}".encode())
    for n in sorted(digests):
        h.update(f"|{n}:{digests[n]}".encode())
    return h.hexdigest()[:12]


def painter_folder(shot: Shot, version: int | None = None) -> Path:
    v = shot.output.version if version is None else version
    return shot.output_folder() / ".learned" / f"v{v:03d}"


def painter_path(shot: Shot, pid: str, version: int | None = None) -> Path:
    """Where the painter `pid` of a version is kept."""
    return painter_folder(shot, version) / f"painter-{pid}.pt"


__all__ = ["TRAIN", "KeyPicture", "Trainer", "learned_keyframes", "painter_folder", "painter_id", "painter_path"]
