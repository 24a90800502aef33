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

from impasto.errors import UsageError
from impasto.io.sequence import format_frame_range as format_frames
from impasto.motion.flow import fit
from impasto.shot.config import Shot
from impasto.shot.identity import cached_digest
from impasto.shot.manifest import Manifest
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


class Refined:
    """A learned painter whose picture the optimisation then refines for `iterations` ([learn] refine): the
    painter puts strokes and colours about where the look wants them, so a few iterations from its picture go
    further than many from the plate."""

    look_tag = ""

    def __init__(self, learned: Painter, optimisation: Painter, iterations: int) -> None:
        self.learned, self.optimisation, self.iterations = learned, optimisation, iterations

    def paint(self, shown: np.ndarray, edge: int, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: Callable[[int, int], None] | None = None, guides: Any = None, stop: Any = None) -> Any:
        start = self.learned.paint(shown, edge)
        done = self.optimisation.paint(shown, edge, init=start.image, iterations=self.iterations,
                                       on_iteration=on_iteration)
        done.seconds += start.seconds
        return done

    def close(self) -> None:
        self.learned.close()


class LearnsFromKeyframes:
    """What `impasto.shot.pipeline.FramePipeline` does for render.learned: which frames the painter paints, the id
    of the painter the keyframes make now, the keyframes' pictures to learn from, the TRAIN task and the painter of
    the learned frames. Mixed into the pipeline (it reads the pipeline's shot, manifest, plates and paintings)."""

    shot: Shot
    version: int
    look_hash: str
    learned_keys: list[int]
    trainer: Trainer | None
    painter: Painter
    _learned_painters: dict[str, Painter]

    def init_learned(self, shot: Shot, trainer: Trainer | None, painter: Painter | None) -> None:
        """The keyframes the optimisation paints, and what learns and loads the painter of the rest; one sentence
        for what render.learned does not paint with (a fast model, regions)."""
        self.trainer = trainer
        self.learned_keys = learned_keyframes(shot.frame_list(), shot.render.learned) if shot.render.learned else []
        self._learned_painters = {}
        if not shot.render.learned:
            return
        if painter is not None and painter.look_tag:
            raise UsageError("A fast model (--fast) and a learned painter (--learned) are two ways to paint without the "
                             "optimisation; use one.")
        regions = self.look.regions  # type: ignore[attr-defined]
        if regions:
            raise UsageError(f"Shot {shot.name}'s look paints regions ({', '.join(r.name for r in regions)}); "
                             "the learned painter paints whole frames at one u, so drop --learned or the regions.")

    def is_learned(self, frame: int) -> bool:
        """With render.learned: a frame the learned painter paints (not one of the keyframes)."""
        return bool(self.learned_keys) and frame not in self.learned_keys

    def painter_id(self, manifest: Manifest | None = None) -> str | None:
        """The id of the painter the keyframes make as they are now; None while any of them is not painted with
        this look (or its file is gone)."""
        manifest = manifest or self.manifest()
        digests = {}
        for k in self.learned_keys:
            entry, out = manifest.frames.get(k), self.shot.output_path(k)
            if entry is None or entry.status != "done" or entry.look_hash != self.look_hash or not out.is_file():
                return None
            digests[k] = cached_digest(out)
        # How it learns is part of the painter (a changed [learn] learns it again), not of the version's look.
        return painter_id(self.look_hash + repr(sorted(self.shot.learn.settings().items())), self.shot.render.learned or 0, digests)

    def unpainted_keyframes(self, manifest: Manifest | None = None) -> list[int]:
        manifest = manifest or self.manifest()
        out = []
        for k in self.learned_keys:
            entry = manifest.frames.get(k)
            if entry is None or entry.status != "done" or entry.look_hash != self.look_hash or not self.shot.output_path(k).is_file():
                out.append(k)
        return out

    def key_picture(self, frame: int) -> KeyPicture:
        """A painted keyframe as the painter learns it: the plate frame as painted from and its painting, both at
        the paint size."""
        plate = self.read_plate(frame)
        size = self.paint_size(plate.width, plate.height)
        painted = self.painted(frame, size)
        if painted is None:
            raise UsageError(f"Keyframe {frame} of shot {self.shot.name} is not painted with this look; render it first.")
        shown = fit(np.clip(self.to_display(self.straight(plate)), 0.0, 1.0), size)
        return KeyPicture(frame, shown.astype(np.float32), painted)

    def learn_painter(self, progress: Callable[[object], None] | None = None) -> tuple[str, Path]:
        """Learn the painter of the keyframes as they are now (the plan's TRAIN task); (its id, its file). Kept when
        the file is there already. UsageError when a keyframe is not painted or no trainer was given."""
        if self.trainer is None:
            raise UsageError("This render paints with a learned painter (render.learned) but was given no trainer; "
                             "use impasto render, or pass impasto.fast.learn.ShotTrainer.")
        manifest = self.manifest()
        pid = self.painter_id(manifest)
        if pid is None:
            left = format_frames(self.unpainted_keyframes(manifest))
            raise UsageError(f"Keyframes {left} of shot {self.shot.name} are not painted yet; the learned painter "
                             "learns from them, so render them first.")
        path = painter_path(self.shot, pid, self.version)
        if not path.is_file():
            pictures = [self.key_picture(k) for k in self.learned_keys]
            self.trainer.train(pictures, float(self.look.u), path, progress)
        return pid, path

    def frame_painter(self, frame: int, plate: Any, base: dict[str, Any]) -> tuple[Painter | None, str | None, Any]:
        """For `render_frame`: (the painter of a learned frame, its init label, None) after recording its painter in
        `base`; (None, None, the paint size) for a keyframe, whose painting is kept to learn from; (None, None,
        None) without render.learned. UsageError when the keyframes or their painter are not there yet."""
        if not self.learned_keys:
            return None, None, None
        if not self.is_learned(frame):
            return None, None, self.paint_size(plate.width, plate.height)  # type: ignore[attr-defined]
        pid = self.painter_id()
        if pid is None:
            raise UsageError(f"Keyframes {format_frames(self.unpainted_keyframes())} are not painted yet; "
                             "the learned painter learns from them.")
        if not painter_path(self.shot, pid, self.version).is_file():
            raise UsageError("The learned painter of the keyframes as they are now is not there; impasto render learns it first.")
        base.update(learned=True, painter=pid)
        return self.learned_painter(pid), "learned", None

    def learned_painter(self, pid: str) -> Painter:
        if pid not in self._learned_painters:
            assert self.trainer is not None
            painter = self.trainer.painter(painter_path(self.shot, pid, self.version))
            refine = self.shot.learn.refine
            self._learned_painters[pid] = Refined(painter, self.painter, refine) if refine else painter
        return self._learned_painters[pid]



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


__all__ = ["TRAIN", "KeyPicture", "LearnsFromKeyframes", "Refined", "Trainer", "learned_keyframes", "painter_folder", "painter_id", "painter_path"]
