"""Where a shot version stands: done, failed, damaged, stale and missing frames, time per frame and flicker."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from impasto.errors import ImpastoError
from impasto.io.frames import read_frame
from impasto.io.sequence import existing_frames
from impasto.shot.config import Shot
from impasto.shot.identity import look_hash
from impasto.shot.manifest import FrameEntry, read_manifest
from impasto.shot.render import ShotFrames, plate_header


@dataclass
class Flicker:
    painted: float  # mean absolute difference of consecutive painted frames (display-referred 0-1)
    plate: float  # the same for the plate
    pairs: int
    worst: list[tuple[int, int, float, float]] = field(default_factory=list)  # (a, b, painted, plate), worst first
    left_out: dict[str, list[int]] = field(default_factory=dict)  # why -> frames not measured

    @property
    def ratio(self) -> float | None:
        return self.painted / self.plate if self.plate > 1e-9 else None


@dataclass
class ShotStatus:
    shot: str
    version: int
    frames: list[int]
    done: list[int]
    failed: dict[int, str]
    stale: list[int]  # done, but with another look than the shot file's
    todo: list[int]  # not rendered yet (or their file is gone)
    missing_plates: list[int]
    seconds: list[float]
    output: str
    manifest: str
    flicker: Flicker | None = None
    damaged: dict[int, str] = field(default_factory=dict)  # recorded as done, but the file is not what was written
    flicker_note: str | None = None  # why flicker was not measured

    @property
    def per_frame(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def eta(self) -> float | None:
        per = self.per_frame
        return per * (len(self.todo) + len(self.failed) + len(self.stale) + len(self.damaged)) if per else None


def _small(rgb: np.ndarray, long_edge: int = 256) -> np.ndarray:
    step = max(1, max(rgb.shape[:2]) // long_edge)
    return rgb[::step, ::step]


BLACK = 0.04  # a plate frame whose 99th-percentile display value is below this is black (a fade, a slug)


def measure_flicker(shot: Shot, frames: list[int], renderer: ShotFrames, *, worst: int = 3) -> Flicker | None:
    """Mean absolute difference between consecutive painted frames, and the same for the plate (display-referred).

    Frames dissolving with the plate and black plate frames are left out (they measure the dissolve or the
    fade, not the painting), as are frames that cannot be read; `worst` pairs with the most flicker beyond the
    plate's own change are named."""
    left_out: dict[str, list[int]] = {}
    dissolve = [n for n in frames if shot.dissolve_weight(n) < 1.0 - 1e-6]
    if dissolve:
        left_out["dissolve"] = dissolve
    cache: dict[tuple[str, int], np.ndarray | None] = {}

    def shown(kind: str, n: int) -> np.ndarray | None:
        if (kind, n) not in cache:
            try:
                frame = read_frame(shot.output_path(n)) if kind == "paint" else renderer.read_plate(n)
                cache[(kind, n)] = _small(renderer.display(frame))
            except ImpastoError:
                cache[(kind, n)] = None
                left_out.setdefault("unreadable" if kind == "paint" else "plate unreadable", []).append(n)
            else:
                if kind == "plate" and float(np.percentile(cache[(kind, n)], 99)) < BLACK:
                    cache[(kind, n)] = None
                    left_out.setdefault("black plate", []).append(n)
            cache.pop((kind, n - 2), None)
        return cache[(kind, n)]

    keep = [n for n in frames if n not in set(dissolve)]
    rows = []
    for a, b in itertools.pairwise(keep):
        if b != a + 1:
            continue
        pa, pb = shown("plate", a), shown("plate", b)
        qa, qb = shown("paint", a), shown("paint", b)
        if any(x is None for x in (pa, pb, qa, qb)):
            continue
        rows.append((a, b, float(np.mean(np.abs(qb - qa))), float(np.mean(np.abs(pb - pa)))))
    if not rows:
        return None
    named = sorted(rows, key=lambda r: r[2] - r[3], reverse=True)[:worst]
    return Flicker(painted=float(np.mean([r[2] for r in rows])), plate=float(np.mean([r[3] for r in rows])),
                   pairs=len(rows), worst=named, left_out={k: sorted(set(v)) for k, v in left_out.items()})


def frame_intact(path: Path, entry: FrameEntry, size: tuple[int, int] | None) -> str | None:
    """Cheaply (its size on disk and its header): why a painted frame is not what was written, or None if it is."""
    try:
        nbytes = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if entry.bytes is not None and nbytes != entry.bytes:
        return f"{'truncated' if nbytes < entry.bytes else 'changed'}: {nbytes} bytes, {entry.bytes} written"
    header = plate_header(path)
    if header is None:
        return "its header cannot be read"
    if size is not None and header != size:
        return f"{header[0]}×{header[1]}, not the plate's {size[0]}×{size[1]}"
    return None


def _status_plates(shot: Shot, frames: list[int]) -> tuple[list[int], tuple[int, int] | None]:
    """(frames whose plate frame is missing, the plate's size if it can be read cheaply)."""
    if shot.plate_is_movie:
        with ShotFrames(shot) as r:
            try:
                return r.missing_plates(frames), r.plate_size
            except ImpastoError:
                return list(frames), None
    pattern = shot.plate_pattern()
    have, missing = existing_frames(pattern, frames)
    size = plate_header(pattern.path(min(have))) if have else None
    return missing, size


def shot_status(shot: Shot, *, flicker: bool = True) -> ShotStatus:
    """Done, failed, damaged, stale and missing frames of the shot's current version, time per frame and flicker.

    Every frame listed as done was checked (size on disk against the manifest, header and resolution)."""
    frames = shot.frame_list()
    manifest = read_manifest(shot.manifest_path())
    current = look_hash(shot)
    missing_plates, size = _status_plates(shot, frames)
    gone = set(missing_plates)
    done, stale, todo, seconds = [], [], [], []
    failed: dict[int, str] = {}
    damaged: dict[int, str] = {}
    for n in frames:
        e = manifest.frames.get(n)
        out = shot.output_path(n)
        exists = out.is_file()
        if e is not None and e.status == "failed":
            failed[n] = e.error or "unknown error"
        elif e is not None and e.status == "done" and exists:
            why = frame_intact(out, e, size)
            if why:
                damaged[n] = why
                continue
            (done if e.look_hash == current else stale).append(n)
            seconds.append(e.seconds)
        elif n not in gone:
            todo.append(n)
    status = ShotStatus(shot.name, shot.output.version, frames, done, failed, stale, todo, missing_plates, seconds,
                        str(shot.output_pattern()), str(shot.manifest_path()), damaged=damaged)
    if flicker and len(done) > 1:
        with ShotFrames(shot) as r:
            status.flicker = measure_flicker(shot, [n for n in done if n not in gone], r)
        if status.flicker is None:
            status.flicker_note = "no two consecutive painted frames to compare (dissolves, black plate frames and damaged frames are left out)"
        elif damaged:
            status.flicker.left_out["damaged"] = sorted(damaged)
    return status
