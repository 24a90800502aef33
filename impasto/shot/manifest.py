"""The render manifest: one JSON file per shot version, beside its frames, recording how each frame was made.

Several processes may render frames of one version at once (farm tasks on one machine, Ray workers), so every
update takes an exclusive `fcntl.flock` on a lock file, re-reads the manifest, merges its own entries and writes
the whole file atomically (`impasto.files`: a temporary name, then a rename over the old one): readers never see half a file and no
writer loses another's frames.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_write_text, disk_full

MANIFEST_SCHEMA = 1

# missing: the plate frame was not there when the render reached it (painted once it is).
Status = Literal["done", "failed", "missing"]


class FrameEntry(BaseModel):
    """How one frame was rendered (or why it failed)."""

    model_config = ConfigDict(extra="ignore")

    status: Status
    output: str | None = Field(None, description="file name of the painted frame, beside the manifest")
    bytes: int | None = Field(None, description="size of the painted frame's file as written; status checks it cheaply")
    source_frame: int | None = Field(None, description="index in the movie of the plate frame painted (0 = its first); None for image sequences")
    input_hash: str | None = None
    mattes: dict[str, str] | None = Field(None, description="region name -> digest of its matte file for this frame (regions on the plate's alpha are covered by input_hash)")
    warnings: list[str] | None = Field(None, description="what the frame's regions warned about (small or overlapping mattes)")
    look_hash: str | None = None
    dissolve: float = Field(1.0, description="weight of the painting in the dissolve with the plate (1 = all painting)")
    seed: int | None = None
    init: str = Field("content", description="what the optimisation started from: content or previous:<frame>")
    boil: float = Field(0.0, description="the shot's temporal.boil when the frame was painted (0: painted on its own)")
    chunk: int | None = Field(None, description="at boil > 0: frames per chunk (temporal.chunk)")
    keyframe: bool = Field(False, description="at boil > 0: the frame is its chunk's keyframe, painted from the plate first")
    start: str | None = Field(None, description="at boil > 0: content, warped:<previous frame> (forward), between:<K>,<K'> (two-sided), or content (<frame> not painted)")
    pulled_to: int | None = Field(None, description="at boil > 0: the next keyframe this frame was also pulled toward")
    note: str | None = Field(None, description="at boil > 0: why a pull toward the next keyframe (or, two-sided, a keyframe) was left out")
    held_to: list[int] | None = Field(None, description="at boil > 0, two-sided: the keyframes the frame was held toward")
    learned: bool = Field(False, description="with render.learned: the frame was painted by the painter learned from the shot's keyframes")
    painter: str | None = Field(None, description="with render.learned: the id of the learned painter that painted the frame (keyframes: none)")
    iterations: int | None = Field(None, description="iterations the optimisation ran for the frame (fewer than the look's when it stopped converged)")
    impasto: str = ""
    torch: str = ""
    device: str = ""
    seconds: float = 0.0
    loss: float | None = Field(None, description="the optimisation's final loss for the frame (None from a painter that does not optimise)")
    error: str | None = None
    finished: float = Field(0.0, description="Unix time the entry was written")
    host: str = ""
    pid: int = 0


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    schema_version: int = MANIFEST_SCHEMA
    shot: str = ""
    version: int = 1
    frames: dict[int, FrameEntry] = Field(default_factory=dict)

    def done(self) -> dict[int, FrameEntry]:
        return {n: e for n, e in self.frames.items() if e.status == "done"}

    def failed(self) -> dict[int, FrameEntry]:
        return {n: e for n, e in self.frames.items() if e.status == "failed"}

    def missing(self) -> dict[int, FrameEntry]:
        return {n: e for n, e in self.frames.items() if e.status == "missing"}


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest at `path`, or an empty one when there is none yet."""
    path = Path(path)
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):  # no manifest yet (the output folder may not be one either)
        return Manifest()
    except OSError as exc:
        raise UsageError(f"Manifest '{path}' cannot be read ({exc.strerror or exc}).") from None
    try:
        return Manifest.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UsageError(f"Manifest '{path}' is damaged ({str(exc).splitlines()[0]}); move it aside to re-render the version.") from None


@contextmanager
def manifest_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the manifest's exclusive lock (not re-entrant: never nest it, nor call update_manifest inside)."""
    with _locked(Path(path)):
        yield


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_error(path: Path, problem: BaseException | str) -> ImpastoError:
    if disk_full(problem):
        return DiskFull(f"The disk holding '{path.parent}' is full; finished frames are kept, free some space and render again.")
    if isinstance(problem, OSError):
        return ImpastoError(f"Could not write manifest '{path}' ({problem.strerror or problem}).")
    return ImpastoError(str(problem))


class DiskFull(ImpastoError):
    """No room left to write frames or the manifest: stop the run, keep what is finished."""


def update_manifest(path: str | os.PathLike, shot: str, version: int, entries: dict[int, FrameEntry]) -> Manifest:
    """Merge `entries` into the manifest at `path` under the lock and write it atomically; the merged manifest."""
    path = Path(path)
    with _locked(path):
        current = read_manifest(path)
        current.shot, current.version = shot, version
        current.frames.update(entries)
        current.frames = dict(sorted(current.frames.items()))
        try:
            atomic_write_text(path, current.model_dump_json(indent=1))
        except ImpastoError as exc:  # atomic_write_text's sentence: full disk, or why the write failed
            raise _write_error(path, str(exc)) from None
    return current
