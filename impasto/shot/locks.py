"""A lock per frame, so that renders of one shot running at once (two terminals, a farm double-submit, a Ray run
beside a local one) split the work and paint each frame once.

A render claims a frame before painting it: under the manifest's exclusive lock it checks that no live render
holds the frame, asks whether the frame still needs painting (another render may have finished it since this one
planned), and writes `.<frame file>.lock` beside the output holding its pid, host and start time. The lock goes
when the frame's manifest entry is written (or the render stops). A lock is stale, and is taken over, when its
process is gone on this host (or its number now belongs to a process started later), or when nothing touched it
for `STALE_AFTER` seconds (a killed render on another host); a painting render touches its lock as it iterates.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from impasto.errors import ImpastoError
from impasto.files import atomic_write_text
from impasto.shot.manifest import manifest_lock

STALE_AFTER = 3600.0  # seconds without a touch: generous, as one iteration of a 4K frame on a CPU takes minutes
TOUCH_EVERY = 30.0


@dataclass
class Holder:
    """Who holds a frame's lock."""

    pid: int
    host: str
    started: float
    run: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def make_folder(folder: Path) -> None:
    """Create the output folder, or say in one sentence which folder and why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImpastoError(f"Could not create the output folder '{folder}' ({exc.strerror or exc}).") from None


def lock_path(output: Path) -> Path:
    return output.with_name(f".{output.name}.lock")


def read_holder(path: Path) -> tuple[Holder, float] | None:
    """The lock's holder and the time it was last touched; None when there is no lock (a torn one reads as old)."""
    try:
        touched = path.stat().st_mtime
        data = json.loads(path.read_text())
        return Holder(int(data["pid"]), str(data["host"]), float(data["started"]), str(data.get("run", ""))), touched
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Holder(0, "?", 0.0), 0.0  # unreadable: stale once its age says so


def is_stale(holder: Holder, touched: float, *, now: float | None = None, stale_after: float = STALE_AFTER,
             run: str = "") -> bool:
    """A lock whose process is gone on this host, untouched for `stale_after` s, or of this same run (`run`)."""
    if run and holder.run == run:
        return True  # the run's driver gave the frame back (its worker was lost)
    if (now or time.time()) - touched > stale_after:
        return True
    if holder.host == socket.gethostname() and holder.pid > 0:
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
        return _started_after(holder.pid, holder.started)
    return False


def _started_after(pid: int, when: float) -> bool:
    """True when process `pid` started after `when` (Linux /proc): its number was reused, the lock's writer is gone.
    Also when it is a zombie: killed, and not yet reaped (a container without an init reaps nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2:].split()[0] in ("Z", "X"):
            return True
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22, starttime: clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 5.0
    except (OSError, ValueError, IndexError, StopIteration):
        return False


class FrameLock:
    """A frame claimed by this process: touch() while painting, release() when its manifest entry is written."""

    def __init__(self, path: Path, holder: Holder) -> None:
        self.path, self.holder = path, holder
        self._touched = time.monotonic()

    def touch(self) -> None:
        if time.monotonic() - self._touched < TOUCH_EVERY:
            return
        self._touched = time.monotonic()
        try:
            os.utime(self.path)
        except OSError:
            pass  # the folder went away or the disk is read-only: the frame's write will say so

    def release(self) -> None:
        got = read_holder(self.path)
        if got is not None and got[0] == self.holder:  # never remove a lock another render took over
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(output: Path, manifest: Path, still_needed: Callable[[], bool], *, run: str = "",
          stale_after: float = STALE_AFTER) -> FrameLock | Holder | None:
    """Claim the frame written to `output`: a FrameLock when this process is to paint it, the Holder when a live
    render holds it, None when `still_needed()` says it was painted meanwhile. Serialised by the manifest's lock."""
    path = lock_path(output)
    make_folder(path.parent)
    with manifest_lock(manifest):
        got = read_holder(path)
        if got is not None and not is_stale(*got, stale_after=stale_after, run=run):
            return got[0]
        if not still_needed():
            return None
        me = Holder(os.getpid(), socket.gethostname(), time.time(), run)
        atomic_write_text(path, json.dumps(me.__dict__))
        return FrameLock(path, me)
