"""Files written safely and read once: atomic writes, digests, telling a full disk from other failures, and
whether an output folder can be made."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from impasto.errors import ImpastoError, UsageError

NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FULL_WORDS = ("no space left", "disk is full", "disk full", "file too large", "quota")


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden name beside `path` with the same extension (image writers pick the format from it), unique to
    this process and call, so concurrent writers never share one."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def disk_full(problem: BaseException | str | None, folder: str | os.PathLike | None = None,
              needed: int = 1 << 20) -> bool:
    """Whether a failed write ran out of room: its errno, its message, or (writers that do not say, such as
    OpenEXR) the free space left in `folder`."""
    if isinstance(problem, OSError) and problem.errno in NO_ROOM:
        return True
    text = str(problem or "").lower()
    if any(word in text for word in _FULL_WORDS):
        return True
    if folder is None:
        return False
    try:
        return shutil.disk_usage(folder).free < needed
    except OSError:
        return False


def write_error(path: str | os.PathLike, problem: BaseException | str | None, needed: int = 1 << 20) -> ImpastoError:
    """A failed write as one sentence, saying so when the disk is full."""
    path = Path(path)
    if disk_full(problem, path.parent if str(path.parent) else ".", needed):
        return ImpastoError(f"The disk is full: could not write '{path}'.")
    if isinstance(problem, OSError):
        reason = problem.strerror or str(problem)
    else:
        lines = str(problem or "").strip().splitlines()
        reason = lines[0] if lines else "unknown error"
    return ImpastoError(f"Could not write '{path}' ({reason}).")


@contextmanager
def atomic_path(path: str | os.PathLike, *, error: type[ImpastoError] | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to; on a clean exit it is flushed to disk and renamed over `path`,
    on any error removed, so `path` is never half-written. OSErrors become one sentence (`error`'s type)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        err = write_error(path, exc)
        raise (error(str(err)) if error else err) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a writer that made no file: os.replace reports it
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):  # file systems without fsync
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, error: type[ImpastoError] | None = None) -> Path:
    with atomic_path(path, error=error) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, error: type[ImpastoError] | None = None) -> Path:
    with atomic_path(path, error=error) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def file_digest(path: str | os.PathLike, algorithm: str = "blake2b", size: int | None = 16) -> str:
    """Hex digest of a file's bytes, read in chunks; `size` is blake2b's digest size. One sentence if unreadable.

    Each caller keeps the algorithm its stored digests were made with (manifests, model files), so they still match.
    """
    h = hashlib.blake2b(digest_size=size) if algorithm == "blake2b" and size else hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise UsageError(f"'{path}' cannot be read ({exc.strerror or exc}).") from None
    return h.hexdigest()


def read_toml(path: str | os.PathLike, kind: str, missing: str = "") -> dict:
    """A TOML file as a dict; a missing, unreadable or invalid file is one UsageError sentence naming the `kind`
    ('Look file', 'Shot file'), with `missing` appended when the file does not exist."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{kind} '{path}' does not exist{missing}.") from None
    except IsADirectoryError:
        raise UsageError(f"'{path}' is a folder, not a {kind.lower()}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{kind} '{path}' cannot be read ({exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{kind} '{path}' is not valid TOML ({exc}).") from None


def output_folder_problem(folder: str | os.PathLike) -> str | None:
    """Why `folder` cannot be created or written (a file in the way, a read-only file system, no permission);
    None when it can. Looks at the nearest folder that exists, creating nothing."""
    folder = Path(folder)
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    what = "cannot be written" if probe == folder.absolute() else "cannot be created"
    if not probe.is_dir():
        return f"Output folder '{folder}' {what}: '{probe}' is a file, not a folder."
    try:
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): the permission check below still answers
        read_only = False
    if read_only:
        return f"Output folder '{folder}' {what}: '{probe}' is on a read-only file system."
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"Output folder '{folder}' {what}: no permission to write in '{probe}'."
    return None
