"""Where a shot version stands: done, failed, damaged, stale and missing frames, time per frame and flicker, and
E_warp (Lai et al. 2018's warping error, issue 16) of every version of the shot beside the plate's own."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np

from impasto.errors import ImpastoError, UsageError
from impasto.io.frames import read_frame
from impasto.io.sequence import existing_frames
from impasto.io.tensors import fit_size
from impasto.motion.cache import FlowCache
from impasto.motion.ewarp import warp_error
from impasto.motion.flow import Motion, fit
from impasto.shot.config import Shot
from impasto.shot.identity import look_hash
from impasto.shot.manifest import FrameEntry, read_manifest
from impasto.shot.render import ShotRenderer
from impasto.shot.source import PlateSource, plate_header


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
    ewarp: Ewarp | None = None  # E_warp of the versions asked for (the current one and the others with a manifest)
    ewarp_note: str | None = None  # why E_warp was not measured
    iterations: dict[int, int] = field(default_factory=dict)  # done frames of this look: iterations each ran
    keyframes: set[int] = field(default_factory=set)  # ... those that were keyframes (boil > 0)
    learned: dict[int, str] = field(default_factory=dict)  # done frames of this look painted by a learned painter: its id

    @property
    def per_frame(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def median_iterations(self, keyframes: bool | None = None) -> float | None:
        """Median iterations of the done frames that recorded them (only keyframes, only the frames between them,
        or all); None when none did."""
        its = [i for n, i in self.iterations.items() if keyframes is None or (n in self.keyframes) == keyframes]
        return statistics.median(its) if its else None

    @property
    def eta(self) -> float | None:
        per = self.per_frame
        return per * (len(self.todo) + len(self.failed) + len(self.stale) + len(self.damaged)) if per else None


def _small(rgb: np.ndarray, long_edge: int = 256) -> np.ndarray:
    step = max(1, max(rgb.shape[:2]) // long_edge)
    return rgb[::step, ::step]


BLACK = 0.04  # a plate frame whose 99th-percentile display value is below this is black (a fade, a slug)


def measure_flicker(shot: Shot, frames: list[int], renderer: PlateSource, *, worst: int = 3) -> Flicker | None:
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
        with PlateSource(shot) as r:
            try:
                return r.missing_plates(frames), r.plate_size
            except ImpastoError:
                return list(frames), None
    pattern = shot.plate_pattern()
    have, missing = existing_frames(pattern, frames)
    size = plate_header(pattern.path(min(have))) if have else None
    return missing, size


# ------------------------------------------------------------------------------------------------ E_warp
@dataclass
class VersionEwarp:
    """E_warp (Lai et al. 2018, 0-255 over the plate's trusted pixels) of one version's consecutive painted pairs,
    beside the plate's own E_warp over the same pairs."""

    version: int
    pairs: list[tuple[int, int, float, float]] = field(default_factory=list)  # (a, b, painted, plate), frame order
    boil: list[float] | None = None  # the boils its frames were painted with (from the manifest), None if unrecorded
    measured: list[int] = field(default_factory=list)  # painted frames that could be measured
    left_out: dict[str, list[int]] = field(default_factory=dict)  # why -> frames not measured

    @property
    def painted(self) -> float | None:
        return float(np.mean([p[2] for p in self.pairs])) if self.pairs else None

    @property
    def plate(self) -> float | None:
        return float(np.mean([p[3] for p in self.pairs])) if self.pairs else None

    @property
    def excess(self) -> float | None:
        return None if not self.pairs else self.painted - self.plate

    def worst(self, count: int = 3) -> list[tuple[int, int, float, float]]:
        """The `count` pairs with the most E_warp beyond the plate's own, worst first."""
        return sorted(self.pairs, key=lambda p: p[2] - p[3], reverse=True)[:count]

    def as_dict(self, worst: int = 3) -> dict:
        def pair(a: int, b: int, p: float, q: float) -> dict:
            return {"frames": [a, b], "painted": p, "plate": q, "excess": p - q}

        return {"version": self.version, "boil": self.boil, "pairs": len(self.pairs), "painted": self.painted,
                "plate": self.plate, "excess": self.excess, "per_pair": [pair(*p) for p in self.pairs],
                "worst": [pair(*p) for p in self.worst(worst)],
                "left_out": {k: sorted(set(v)) for k, v in self.left_out.items()}}


@dataclass
class Ewarp:
    """E_warp of several versions of a shot, measured over one pass of the plate at the paint size."""

    size: tuple[int, int]  # paint size (width, height) the flows and pictures are measured at
    versions: list[VersionEwarp]
    plate_left_out: dict[str, list[int]] = field(default_factory=dict)  # frames no version is measured at

    def version(self, v: int) -> VersionEwarp | None:
        return next((e for e in self.versions if e.version == v), None)


def manifest_versions(shot: Shot) -> list[int]:
    """The versions of the shot that have a manifest (a render was started), lowest first."""
    try:
        names = {p.name for p in shot.output_folder().glob("*.manifest.json")}
    except OSError:
        return []
    probe = 987  # a version whose digits stand for every version's in the manifest's name
    name = shot.manifest_path(probe).name
    if str(probe) not in name:
        return []
    head, tail = name.rsplit(str(probe), 1)  # the version: the probe's last place in the name
    pattern = re.compile(re.escape(head) + r"(\d{3})" + re.escape(tail))
    found = set()
    for name in names:
        m = pattern.fullmatch(name)
        if m and 1 <= int(m.group(1)) <= 999 and shot.manifest_path(int(m.group(1))).name == name:
            found.add(int(m.group(1)))
    return sorted(found)


def paint_size(shot: Shot, plate_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) the shot paints a plate of `plate_size` (width, height) at: the flow cache's size, as the
    renderer computes it (ShotRenderer.paint_edge, then fit_size)."""
    w, h = plate_size
    edge = ShotRenderer.paint_edge(cast(ShotRenderer, SimpleNamespace(shot=shot)), w, h)  # it reads only .shot
    ph, pw = fit_size(h, w, edge)
    return pw, ph


def _painted_frames(shot: Shot, v: int, frames: list[int], size: tuple[int, int] | None,
                    left_out: dict[str, list[int]]) -> tuple[list[int], list[float] | None]:
    """Version v's frames of `frames` recorded as done whose file is intact, and the boils they were painted with
    (None when the manifest records none)."""
    manifest = read_manifest(shot.manifest_path(v))
    good, boils = [], set()
    for n in frames:
        e = manifest.frames.get(n)
        if e is None or e.status != "done" or not shot.output_path(n, v).is_file():
            continue
        if frame_intact(shot.output_path(n, v), e, size):
            left_out.setdefault("damaged", []).append(n)
            continue
        good.append(n)
        boil = getattr(e, "boil", None)
        if boil is not None:
            boils.add(float(boil))
    return good, (sorted(boils) or None)


class _Pictures:
    """Display-referred pictures (0-1) at the paint size, as the renderer sees them; the last two of each kind kept."""

    def __init__(self, shot: Shot, renderer: PlateSource, size: tuple[int, int]) -> None:
        self.shot, self.renderer, self.size = shot, renderer, size
        self.cache: dict[tuple[str | int, int], np.ndarray | None] = {}

    def get(self, kind: str | int, n: int, left_out: dict[str, list[int]]) -> np.ndarray | None:
        """kind "plate" or a version number; None (and the frame noted in `left_out`) when it cannot be read."""
        key = (kind, n)
        if key not in self.cache:
            try:
                if kind == "plate":
                    frame = self.renderer.read_plate(n)
                else:
                    frame = read_frame(self.shot.output_path(n, int(kind)))
                picture = np.clip(fit(self.renderer.display(frame), self.size), 0.0, 1.0)
                if kind == "plate" and float(np.percentile(picture, 99)) < BLACK:
                    picture = None
                    left_out.setdefault("black plate", []).append(n)
            except ImpastoError:
                picture = None
                left_out.setdefault("plate unreadable" if kind == "plate" else "unreadable", []).append(n)
            self.cache[key] = picture
            older = [k for k in self.cache if k[0] == kind][:-2]  # the last two of each kind are kept
            for k in older:
                del self.cache[k]
        return self.cache[key]


def measure_ewarp(shot: Shot, versions: list[int], frames: list[int] | None = None, *,
                  renderer: PlateSource | None = None) -> Ewarp:
    """E_warp of each version's consecutive painted frame pairs (consecutive in the shot's frame list) and the
    plate's own over the same pairs, at the paint size, with the plate's motion from the shot's flow cache (the one
    the renderer fills: keyed by the plate frames' hashes and the paint size). Frames dissolving with the plate,
    black plate frames, damaged or unreadable frames are left out; a pair whose mask trusts no pixel is skipped."""
    if renderer is None:
        with PlateSource(shot) as r:
            return measure_ewarp(shot, versions, frames, renderer=r)
    wanted = shot.frame_list() if frames is None else sorted(set(frames) & set(shot.frame_list()))
    missing, plate_size = _status_plates(shot, wanted)
    if plate_size is None:
        raise UsageError(f"The plate of {shot.name} cannot be read, so E_warp cannot be measured.")
    size = paint_size(shot, plate_size)
    common: dict[str, list[int]] = {}
    if missing:
        common["plate missing"] = list(missing)
    dissolve = [n for n in wanted if shot.dissolve_weight(n) < 1.0 - 1e-6]
    if dissolve:
        common["dissolve"] = dissolve
    usable = [n for n in wanted if n not in set(missing) | set(dissolve)]
    report = Ewarp(size, [], common)
    good: dict[int, set[int]] = {}
    for v in versions:
        ve = VersionEwarp(v, left_out={k: list(f) for k, f in common.items()})
        measured, ve.boil = _painted_frames(shot, v, usable, plate_size, ve.left_out)
        good[v] = set(measured)
        report.versions.append(ve)
    _measure_pairs(shot, renderer, report, good, usable, size)
    for ve in report.versions:
        ve.left_out = {k: sorted(set(f)) for k, f in ve.left_out.items() if f}
    report.plate_left_out = {k: sorted(set(f)) for k, f in report.plate_left_out.items() if f}
    return report


def _measure_pairs(shot: Shot, renderer: PlateSource, report: Ewarp, good: dict[int, set[int]],
                   usable: list[int], size: tuple[int, int]) -> None:
    """One pass over the plate's consecutive frame pairs: the plate's motion (cached) and E_warp of the plate and
    of every version painted at both frames."""
    frames = shot.frame_list()
    index = {n: i for i, n in enumerate(frames)}
    wanted = set().union(*good.values()) if good else set()
    pictures = _Pictures(shot, renderer, size)
    cache = FlowCache(shot.flow_folder())
    plate_out = report.plate_left_out
    by_version = {ve.version: ve for ve in report.versions}
    for a, b in itertools.pairwise(usable):
        if index[b] != index[a] + 1 or a not in wanted or b not in wanted:
            continue
        pa, pb = pictures.get("plate", a, plate_out), pictures.get("plate", b, plate_out)
        if pa is None or pb is None:
            continue
        try:
            motion = cache.get_or_compute(renderer.input_hash(a), renderer.input_hash(b), size,
                                          lambda pa=pa: pa, lambda pb=pb: pb)
        except ImpastoError:  # the cache cannot be written (a read-only output folder): measure all the same
            motion = Motion.from_pictures(pa, pb)
        plate = warp_error(pa, pb, motion)
        if math.isnan(plate):
            continue
        for v, ve in by_version.items():
            if a not in good[v] or b not in good[v]:
                continue
            qa, qb = pictures.get(v, a, ve.left_out), pictures.get(v, b, ve.left_out)
            if qa is not None and qb is not None:
                ve.pairs.append((a, b, warp_error(qa, qb, motion), plate))
    for ve in report.versions:
        for k, f in plate_out.items():
            ve.left_out.setdefault(k, []).extend(n for n in f if n in good[ve.version])


def ewarp_for_range(shot: Shot, version: int, frames: list[int], *, worst: int = 3) -> dict:
    """E_warp of version `version` over `frames` (a rendered range, for the studio): per-pair values, their means
    (painted, plate, excess = painted − plate, 0-255), the `worst` pairs by excess, frames left out and why."""
    report = measure_ewarp(shot, [version], frames)
    out = report.versions[0].as_dict(worst)
    out["size"] = list(report.size)
    return out


def shot_status(shot: Shot, *, flicker: bool = True, versions: list[int] | None = None) -> ShotStatus:
    """Done, failed, damaged, stale and missing frames of the shot's current version, time per frame, flicker and
    E_warp of `versions` (default: every version with a manifest, and the current one).

    Every frame listed as done was checked (size on disk against the manifest, header and resolution)."""
    frames = shot.frame_list()
    manifest = read_manifest(shot.manifest_path())
    current = look_hash(shot)
    missing_plates, size = _status_plates(shot, frames)
    gone = set(missing_plates)
    done, stale, todo, seconds = [], [], [], []
    iterations: dict[int, int] = {}
    keyframes: set[int] = set()
    learned: dict[int, str] = {}
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
            if e.look_hash == current and e.iterations is not None:
                iterations[n] = e.iterations
                if e.keyframe:
                    keyframes.add(n)
            if e.look_hash == current and e.learned and e.painter:
                learned[n] = e.painter
        elif n not in gone:
            todo.append(n)
    status = ShotStatus(shot.name, shot.output.version, frames, done, failed, stale, todo, missing_plates, seconds,
                        str(shot.output_pattern()), str(shot.manifest_path()), damaged=damaged,
                        iterations=iterations, keyframes=keyframes, learned=learned)
    if flicker and len(done) > 1:
        with PlateSource(shot) as r:
            status.flicker = measure_flicker(shot, [n for n in done if n not in gone], r)
        if status.flicker is None:
            status.flicker_note = "no two consecutive painted frames to compare (dissolves, black plate frames and damaged frames are left out)"
        elif damaged:
            status.flicker.left_out["damaged"] = sorted(damaged)
    if flicker:
        _status_ewarp(shot, status, versions)
    return status


def _status_ewarp(shot: Shot, status: ShotStatus, versions: list[int] | None) -> None:
    """Fill status.ewarp (or status.ewarp_note, one sentence, when nothing can be measured)."""
    if versions is None:
        versions = sorted(set(manifest_versions(shot)) | ({status.version} if len(status.done) > 1 else set()))
    if not versions:
        return
    try:
        report = measure_ewarp(shot, versions)
    except ImpastoError as exc:
        status.ewarp_note = f"not measured: {exc}"
        return
    if any(ve.pairs for ve in report.versions):
        status.ewarp = report
    elif versions != [status.version] or len(status.done) > 1:
        status.ewarp_note = "no two consecutive painted frames to compare in any version"
