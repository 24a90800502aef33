"""How many CPU threads this process paints with: its share of the machine's cores among the impasto processes
painting on it now.

torch (and OpenCV's and OpenImageIO's pools) take every core by default. Two renders of one shot at once (two
terminals, a farm node running two tasks, the studio previewing beside a render) then run twice the threads there
are cores, and the threads wait on each other: on a 2-core machine a 160 px render took 36 s beside another busy
process with two threads, 17 s with one. So a painting process registers in a machine-wide table (one locked file
per process under `share_dir()`; a process that dies releases its lock, so no entry outlives it) and takes
`cores // painters` threads (at least one), rebalanced as painters come and go (`CpuShare.rebalance`, called
between iterations: it re-counts at most every `RECOUNT_S` seconds).

`--threads N` (the command line) or `IMPASTO_THREADS=N` fixes the count instead. Nothing here changes a number a
render computes: only how many threads compute it (CPU kernels may reduce in another order with another count,
which is why the golden renders pin one thread).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

from impasto.errors import UsageError

ENV = "IMPASTO_THREADS"
RECOUNT_S = 2.0  # seconds between counts of the painters: a directory listing and a lock probe per entry


def cores() -> int:
    """The cores this process may run on (its affinity mask, as a container or taskset limits it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def share_dir() -> Path:
    """The machine-wide table of painting processes (per user: processes of other users are not counted)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"impasto-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "painters"


def fixed_threads(value: int | str | None = None) -> int | None:
    """The thread count asked for (`value`, else $IMPASTO_THREADS), or None to share; UsageError if not a count."""
    text = os.environ.get(ENV, "") if value is None else str(value)
    if not str(text).strip():
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"--threads / {ENV} must be a whole number of threads, 1 or more, not '{text}'.")
    return n


def apply_threads(n: int) -> None:
    """Use `n` threads in torch, OpenCV and OpenImageIO (those that are loaded)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    import sys

    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(n)
    if "OpenImageIO" in sys.modules:
        sys.modules["OpenImageIO"].attribute("threads", n)


class CpuShare:
    """This process's entry in the table of painters, and the threads it takes: `with CpuShare(): ...`.

    With a fixed count (`--threads`, $IMPASTO_THREADS) it only applies that. Without one it registers, takes its
    share, and `rebalance()` re-counts the painters now and then; leaving gives the threads back."""

    def __init__(self, threads: int | None = None, folder: Path | None = None) -> None:
        self.fixed = threads
        self.folder = folder or share_dir()
        self.file: int | None = None
        self.path: Path | None = None
        self.checked = 0.0
        self.threads = 0
        self.started_with = 0

    def __enter__(self) -> CpuShare:
        import torch

        self.started_with = torch.get_num_threads()
        _ACTIVE.append(self)
        if self.fixed is not None:
            self._set(self.fixed)
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f"{os.getpid()}.lock"
            self.file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._close()  # no table (a read-only /tmp): paint with torch's own count, as before
            return self
        self.rebalance(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self._close()
        if self.started_with:
            apply_threads(self.started_with)

    def painters(self) -> int:
        """Processes registered now whose lock is held (this one included); entries of dead ones are removed."""
        count = 0
        for entry in self.folder.glob("*.lock"):
            if entry == self.path:
                count += 1
                continue
            try:
                fd = os.open(entry, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                count += 1  # held: a painter
            else:
                entry.unlink(missing_ok=True)  # its process is gone
            finally:
                os.close(fd)
        return max(1, count)

    def rebalance(self, force: bool = False) -> int:
        """Take this process's share now (at most every RECOUNT_S seconds unless `force`); the threads in use."""
        if self.fixed is not None or self.file is None:
            return self.threads
        now = time.monotonic()
        if force or now - self.checked >= RECOUNT_S:
            self.checked = now
            self._set(max(1, cores() // self.painters()))
        return self.threads

    def _set(self, n: int) -> None:
        if n != self.threads:
            self.threads = n
            apply_threads(n)

    def _close(self) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def rebalance() -> None:
    """Take this process's share of the cores now, if it is painting under a `CpuShare` (a no-op otherwise: a
    library call leaves torch's threads alone)."""
    for share in _ACTIVE:
        share.rebalance()


_ACTIVE: list[CpuShare] = []  # the shares entered in this process (a command's, a studio job's)
