"""Boil (issues 16 and 25): how far a shot's frames are held to each other: where each frame starts and what holds it.

At boil 0 every frame is painted on its own from the plate (the strokes re-arrange: the boil). At boil > 0 the
shot's frames fall into chunks of `temporal.chunk` consecutive frames, counted on the shot's whole frame list so
every farm task and Ray worker agrees. The first frame of each chunk is its keyframe (two-sided, the shot's last
frame is one too), painted first (chained, the default: each from the keyframe before it carried along the
plate's composed motion with a temporal term, so neighbouring chunks start from agreeing paintings; independent:
from the plate exactly as at boil 0). Then the frames between keyframes:

* two-sided (the default): a frame at position t (0-1) between keyframes K and K' is held toward both paintings,
  each carried to it along the plate's composed motion, with weights (1 - t) and t that cross over the whole
  chunk, and starts at their blend with its contrast kept (as EbSynth blends its two passes). It needs only K
  and K': a chunk's frames paint in any order and in parallel, and there is no drift to close at the seam.
* forward: each frame in order from the previous painted frame warped along the plate's motion (Ruder et al.
  2016) with a temporal term toward it where the warp is trusted, the last `pull` of them also pulled toward
  the next keyframe.

Frames between keyframes may stop once their loss has converged (`[temporal] iterations = "auto"`,
`impasto.optim.solve.Converged`). The order and the dependencies are the planner's (`impasto.shot.plan`).

A painted frame's display picture at paint size is kept under `<output folder>/.painted/v001/` (float32 .npy,
written atomically before the frame's manifest entry): the next frame always starts from that file, never from a
copy in memory, so a killed chunk resumes from its last finished frame and paints what an unbroken run would.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from impasto.files import atomic_path
from impasto.lru import LRU
from impasto.motion import FlowCache, Motion, compose, compose_masks, consistency_mask, warp
from impasto.motion.flow import fit
from impasto.objective.controls import temporal_weight
from impasto.objective.guides import Guides, Temporal
from impasto.optim.solve import STEADY, Converged
from impasto.shot.config import Shot, TemporalSettings
from impasto.shot.locks import is_stale, lock_path, read_holder
from impasto.shot.manifest import Manifest
from impasto.shot.plan import keyframe_before, keyframes, next_keyframe

CONTRAST_BLUR = 0.02  # of the long edge: the blend's low frequencies, kept as they are; what is above is rescaled
UNTRUSTED_SHARE = 0.3  # of the hold, on pixels neither keyframe's carried painting is trusted at (bench/temporal.py)

WAIT_POLL = 2.0  # seconds between looks at a keyframe another render is painting


def painted_path(shot: Shot, frame: int, version: int | None = None) -> Path:
    """Where frame `frame`'s painted display picture (paint size, float32) is kept for the frame after it."""
    v = shot.output.version if version is None else version
    return shot.output_folder() / ".painted" / f"v{v:03d}" / f"{frame}.npy"


def save_painted(path: Path, picture: np.ndarray) -> None:
    """Write a painted display picture atomically (a temporary name, then a rename): never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to a bare path
            np.save(f, np.ascontiguousarray(picture, dtype=np.float32), allow_pickle=False)


def load_painted(path: Path, size: tuple[int, int]) -> np.ndarray | None:
    """A saved painted picture of `size` (width, height); None when it is not there or cannot be read whole."""
    try:
        picture = np.load(path, allow_pickle=False)
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: the caller falls back to the written frame
        return None
    w, h = size
    if picture.shape != (h, w, 3) or not np.isfinite(picture).all():
        return None
    return picture.astype(np.float32)


@dataclass
class Start:
    """Where a frame's optimisation starts and what holds it, as the manifest records it."""

    init: np.ndarray | None = None  # None: the look's init, as at boil 0
    guides: Guides | None = None
    iterations: int | None = None  # None: the look's
    stop: Converged | None = None  # stop early once converged (capped at `iterations`)
    label: str = "content"  # content, warped:<frame>, content (<frame> not painted)
    keyframe: bool = False
    pulled_to: int | None = None
    note: str | None = None  # why a pull was left out
    held_to: tuple[int, ...] = ()  # two-sided: the keyframes the frame is held toward


class Boil:
    """The temporal half of a shot render at boil > 0: keyframes, the plate's motion (cached), starts and guides.

    `plate(n)` gives plate frame n's display picture (any size of the paint aspect); `painted(n, size)` the painted
    display picture of frame n at `size` when it is painted with this look, else None; `manifest()` the manifest."""

    def __init__(self, shot: Shot, settings: TemporalSettings, input_hash: Callable[[int], str],
                 plate: Callable[[int], np.ndarray], painted: Callable[[int, tuple[int, int]], np.ndarray | None],
                 manifest: Callable[[], Manifest], look_iterations: int) -> None:
        self.shot = shot
        self.settings = settings  # settled (impasto.shot.identity.settled_temporal)
        self.two_sided = settings.between == "two-sided"
        self.closed = settings.between in ("two-sided", "relay")  # the last frame is a keyframe too
        self.frames = shot.frame_list()
        self.chunk = self.settings.chunk
        self.keys = set(keyframes(self.frames, self.chunk, self.closed))
        self.weight = temporal_weight(self.settings.boil)
        self.flows = FlowCache(shot.flow_folder())
        self.input_hash, self._plate, self.painted, self.manifest = input_hash, plate, painted, manifest
        auto = self.settings.iterations == "auto"
        self.iterations = look_iterations if auto or self.settings.iterations is None else int(self.settings.iterations)
        self.stop = STEADY if auto else None
        keep = self.chunk + 2 if self.two_sided else 2 * self.settings.pull + 4
        self._small: LRU[tuple[int, tuple[int, int]], np.ndarray] = LRU(keep)

    def plate_at(self, frame: int, size: tuple[int, int]) -> np.ndarray:
        """Plate frame `frame`'s display picture at `size` (width, height), kept for the next few frames."""
        return self._small.get_or_make((frame, size), lambda: fit(self._plate(frame), size))

    def remember(self, frame: int, shown: np.ndarray, size: tuple[int, int]) -> None:
        """The display picture of a plate frame just read, so its motion needs no second read."""
        self._small.get_or_make((frame, size), lambda: fit(shown, size))

    def motion(self, frame: int, size: tuple[int, int]) -> Motion:
        """The plate's motion into `frame` from the frame before it in the shot, at `size`; cached on disk."""
        prev = self.frames[self.frames.index(frame) - 1]
        return self.flows.get_or_compute(self.input_hash(prev), self.input_hash(frame), size,
                                         lambda: self.plate_at(prev, size), lambda: self.plate_at(frame, size))

    def start(self, frame: int, size: tuple[int, int], wait: bool = True) -> Start:
        """Where `frame` starts at paint size `size` (width, height), and its temporal guides."""
        if frame in self.keys:
            return self._keyframe_start(frame, size, wait)
        if self.closed:
            return self._closed_start(frame, size, wait)
        i = self.frames.index(frame)
        prev = self.frames[i - 1]
        previous = self.painted(prev, size)
        if previous is None:
            return Start(label=f"content ({prev} not painted)", iterations=None)
        motion = self.motion(frame, size)
        target = warp(previous, motion.backward)
        mask = motion.mask
        # Occluded pixels (and those on motion boundaries or pulled in from outside the frame) have no trusted
        # painted pixel to carry: the warp drags a neighbour's strokes there. They start from the plate instead,
        # exactly as every pixel does at boil 0, and the temporal term leaves them free.
        temporal = [Temporal(target, mask, self.weight, "previous")]
        pulled, note = self._pull(frame, size, wait)
        if pulled is not None:
            temporal.append(pulled[1])
        # Start where the temporal terms alone would put the frame (their weighted mean where trusted): a pulled
        # frame then starts on its way to the keyframe instead of relying on the iterations to get it there.
        num = sum(t.weight * t.mask[..., None] * t.target for t in temporal)
        den = sum(t.weight * t.mask[..., None] for t in temporal)
        trusted = np.divide(num, den, out=np.zeros_like(target), where=den > 0)
        init = np.where(mask[..., None] > 0.5, trusted, self.plate_at(frame, size)).astype(np.float32)
        return Start(init=init, guides=Guides(temporal=tuple(temporal)), iterations=self.iterations, stop=self.stop,
                     label=f"warped:{prev}", pulled_to=pulled[0] if pulled else None, note=note)

    def _closed_start(self, frame: int, size: tuple[int, int], wait: bool) -> Start:
        """A frame at position t (0-1) between keyframes K and K': held toward K' carried back to it along the plate's
        composed motion, share t, and toward K carried forward (two-sided) or the previous painted frame carried one
        step (relay), share 1 - t; started at their blend, contrast kept."""
        i = self.frames.index(frame)
        before = keyframe_before(self.frames, self.chunk, frame, True)
        after = next_keyframe(self.frames, self.chunk, frame, True)
        assert before is not None and after is not None  # closed chunks: the first and last frames are keyframes
        t = (i - self.frames.index(before)) / (self.frames.index(after) - self.frames.index(before))
        first = before if self.two_sided else self.frames[i - 1]
        carried, held, missing = [], [], []
        for key, name in ((first, "keyframe before" if self.two_sided else "previous"), (after, "keyframe after")):
            painted = self._wait_painted(key, size, wait) if key in self.keys else self.painted(key, size)
            if painted is None:
                missing.append(key)
                carried.append(None)
                continue
            carried.append((*self.carried(key, frame, painted, size), name))
            held.append(key)
        note = "; ".join(f"{'keyframe' if k in self.keys else 'frame'} {k} not painted" for k in missing) or None
        if not held:
            return Start(label=f"content ({first} and {after} not painted)", note=note)
        sides = crossed(carried, (1.0 - t, t), self.weight)
        init = contrast_kept_blend(sides, self.plate_at(frame, size))
        label = f"between:{before},{after}" if self.two_sided else f"warped:{first}"
        return Start(init=init, guides=Guides(temporal=tuple(sides)), iterations=self.iterations, stop=self.stop,
                     label=label, held_to=tuple(held), note=note, pulled_to=None if self.two_sided else after)

    def carried(self, key: int, frame: int, painted: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Keyframe `key`'s painting carried to `frame` along the plate's composed motion, and where that is trusted.

        Motion m holds m -> m-1 (backward, on m, with its mask) and m-1 -> m (forward, on m-1). From a keyframe
        before `frame`: the backward flows from `frame` down to it; after: the forward flows up to it, each step's
        mask the pair's consistency seen from its starting frame."""
        i, k = self.frames.index(frame), self.frames.index(key)
        if k < i:
            motions = [self.motion(m, size) for m in reversed(self.frames[k + 1:i + 1])]
            flows, masks = [m.backward for m in motions], [m.mask for m in motions]
        else:
            motions = [self.motion(m, size) for m in self.frames[i + 1:k + 1]]
            flows = [m.forward for m in motions]
            masks = [consistency_mask(m.backward, m.forward) for m in motions]
        return warp(painted, compose(flows)), compose_masks(masks, flows)

    def _keyframe_start(self, frame: int, size: tuple[int, int], wait: bool) -> Start:
        """A keyframe: from the plate on its own (independent, and the shot's first), or from the keyframe before it
        carried along the plate's composed motion (chained), so that two chunks' chains meet without a seam."""
        before = keyframe_before(self.frames, self.chunk, frame, self.closed)
        if self.settings.keyframes == "independent" or before is None:
            return Start(keyframe=True)  # painted from the plate exactly as at boil 0
        previous = self._wait_painted(before, size, wait)
        if previous is None:
            return Start(keyframe=True, label=f"content ({before} not painted)")
        # Composed from the keyframe back to the one before, the plate's motion carries that one's painting here.
        target, mask = self.carried(before, frame, previous, size)
        init = np.where(mask[..., None] > 0.5, target, self.plate_at(frame, size)).astype(np.float32)
        return Start(init=init, guides=Guides(temporal=(Temporal(target, mask, self.weight, "keyframes"),)),
                     keyframe=True, label=f"warped:{before}")

    def _wait_painted(self, frame: int, size: tuple[int, int], wait: bool) -> np.ndarray | None:
        """Frame `frame`'s painted picture; while another live render is painting it (and `wait`), wait for it."""
        painted = self.painted(frame, size)
        if painted is None and wait and self._held_elsewhere(frame):
            while painted is None and self._held_elsewhere(frame):
                time.sleep(WAIT_POLL)
                painted = self.painted(frame, size)
        return painted

    def _pull(self, frame: int, size: tuple[int, int], wait: bool) -> tuple[tuple[int, Temporal] | None, str | None]:
        """The second temporal term of the last `pull` frames before the next keyframe K: K's painted picture
        carried back along the composed motion frame -> … -> K, weighted down with the distance."""
        pull = self.settings.pull
        key = next_keyframe(self.frames, self.chunk, frame)
        if key is None or pull <= 0:
            return None, None
        d = self.frames.index(key) - self.frames.index(frame)
        if d > pull:
            return None, None
        painted = self._wait_painted(key, size, wait)
        if painted is None:
            return None, f"keyframe {key} not painted"
        target, mask = self.carried(key, frame, painted, size)
        return (key, Temporal(target, mask, self.weight * (pull - d + 1) / pull, "keyframe")), None

    def _held_elsewhere(self, frame: int) -> bool:
        """Another live render holds `frame`'s lock (it is painting it now)."""
        got = read_holder(lock_path(self.shot.output_path(frame)))
        if got is None:
            return False
        holder, touched = got
        if holder.pid == os.getpid() and holder.host == socket.gethostname():
            return False
        return not is_stale(holder, touched)


def crossed(carried: list[tuple[np.ndarray, np.ndarray, str] | None], shares: tuple[float, float],
            weight: float) -> list[Temporal]:
    """The temporal terms of a frame held from two sides: each side's (target, trusted mask, name), or None when it
    is not painted, and its share of the hold (1 - t, t). A pixel both sides trust is held by each with its share;
    one only one side trusts is held by that side alone, with the whole weight, so no pixel is held more loosely
    because the other side cannot see it; one neither side trusts (around a moving outline, where occlusions
    gather along both composed motions) is held loosely toward both (UNTRUSTED_SHARE of the weight), rather than
    left free to boil. Each term's mask is its share per pixel."""
    there = [(c, share) for c, share in zip(carried, shares) if c is not None]
    if len(there) == 1:
        (target, mask, name), _ = there[0]
        return [Temporal(target, mask, weight, name)]
    ((t0, m0, n0), s0), ((t1, m1, n1), s1) = there
    neither = UNTRUSTED_SHARE * (1.0 - m0) * (1.0 - m1)
    return [Temporal(t0, m0 * (s0 + s1 * (1.0 - m1)) + s0 * neither, weight, n0),
            Temporal(t1, m1 * (s1 + s0 * (1.0 - m0)) + s1 * neither, weight, n1)]


def contrast_kept_blend(sides: list[Temporal], plate: np.ndarray) -> np.ndarray:
    """Where the temporal terms put a frame: their mean weighted per pixel (weight × mask) where any is trusted, the
    plate elsewhere.

    Averaging two paintings whose strokes do not line up washes the strokes out (a weighted mean of two
    independent textures has (w0² + w1²) times their variance; Heitz and Neyret 2018, as EbSynth blends its two
    passes). Where both are trusted, the detail above a blur of the mean is scaled so that its local variance is
    the weighted mean of the two sides' own: by 1 where they agree, up to 1 / sqrt(w0² + w1²) where they do not."""
    a = [s.weight * s.mask for s in sides]
    den = sum(a)
    num = sum(ai[..., None] * s.target for ai, s in zip(a, sides))
    safe = np.maximum(den, 1e-12)[..., None]
    mean = np.where(den[..., None] > 0, num / safe, 0.0).astype(np.float32)
    if len(sides) == 2:
        w0, w1 = (np.where(den > 0, ai / np.maximum(den, 1e-12), 0.0) for ai in a)
        both = (a[0] > 0) & (a[1] > 0)
        sigma = max(1.0, CONTRAST_BLUR * max(plate.shape[:2]))

        def detail_variance(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            low = cv2.GaussianBlur(picture, (0, 0), sigma)
            return low, cv2.GaussianBlur(((picture - low) ** 2).mean(axis=2), (0, 0), sigma)

        low, blended = detail_variance(mean)
        # Each side's own variance where both are trusted (elsewhere it stands in the blend's place).
        own = sum(wi * detail_variance(np.where(both[..., None], s.target, mean))[1] for wi, s in zip((w0, w1), sides))
        top = 1.0 / np.sqrt(np.maximum(w0 * w0 + w1 * w1, 1e-12))
        gain = np.clip(np.sqrt(own / np.maximum(blended, 1e-8)), 1.0, top)
        mean = np.where(both[..., None], low + gain[..., None] * (mean - low), mean)
    trusted = den > 0
    return np.clip(np.where(trusted[..., None], mean, plate), 0.0, 1.0).astype(np.float32)
