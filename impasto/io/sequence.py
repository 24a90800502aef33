"""Frame patterns and ranges (fileseq), and movies in (PyAV).

Patterns follow Nuke: each `#` is one digit (`plate.####.exr` = 4 digits), as are `@`; printf (`%04d`) and
Houdini (`$F4`) forms work too. fileseq's default pad style reads `#` as four digits, so PAD_STYLE_HASH1 is
used throughout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fileseq
import numpy as np

from impasto.errors import UsageError

MOVIE_EXTENSIONS = {".mov", ".mp4", ".m4v", ".mkv", ".avi", ".mxf", ".webm", ".mpg", ".mpeg"}
_RANGE_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[x:]\s*(\d+))?)?\s*$")


def _fileseq():
    return fileseq


class FramePattern:
    """A frame-numbered file name such as `plates/cs010.####.exr`, `cs010.%04d.exr` or `cs010.@@@@.exr`."""

    def __init__(self, pattern: str | os.PathLike) -> None:
        fileseq = _fileseq()
        text = str(pattern)
        try:
            seq = fileseq.FileSequence(text, pad_style=fileseq.PAD_STYLE_HASH1)
        except ValueError as exc:  # fileseq's ParseException is a ValueError
            raise UsageError(f"'{text}' is not a frame pattern impasto understands ({exc}).") from None
        if not seq.padding():
            raise UsageError(
                f"'{text}' has no frame number placeholder; write it like 'plate.####.exr' (one # per digit) or 'plate.%04d.exr'."
            )
        self._seq = seq
        self.text = text
        self.pad = int(seq.zfill())

    def path(self, frame: int) -> Path:
        """The file of one frame."""
        return Path(self._seq.frame(int(frame)))

    @property
    def hashes(self) -> str:
        """The pattern written the Nuke way, one # per digit: `dir/plate.####.exr`."""
        return f"{self._seq.dirname()}{self._seq.basename()}{'#' * self.pad}{self._seq.extension()}"

    @property
    def printf(self) -> str:
        """The pattern written printf style: `dir/plate.%04d.exr`."""
        return f"{self._seq.dirname()}{self._seq.basename()}%0{self.pad}d{self._seq.extension()}"

    @property
    def directory(self) -> Path:
        return Path(self._seq.dirname() or ".")

    @property
    def extension(self) -> str:
        return self._seq.extension()

    def frames_on_disk(self) -> list[int]:
        """Frame numbers of the files present that match this pattern exactly (same padding)."""
        folder = self.directory
        if not folder.is_dir():
            return []
        rx = re.compile(
            re.escape(self._seq.basename()) + rf"(-?\d{{{self.pad},}})" + re.escape(self._seq.extension()) + r"$"
        )
        found = []
        for entry in os.scandir(folder):
            m = rx.match(entry.name)
            if m and entry.is_file() and Path(self._seq.frame(int(m.group(1)))).name == entry.name:
                found.append(int(m.group(1)))
        return sorted(found)

    def __str__(self) -> str:
        return self.hashes

    def __repr__(self) -> str:
        return f"FramePattern({self.hashes!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FramePattern) and self.hashes == other.hashes

    def __hash__(self) -> int:
        return hash(self.hashes)


def parse_frame_range(text: str) -> list[int]:
    """'1001-1100', '1001-1100x2', '1001,1005', '1001' -> sorted unique frame numbers; UsageError otherwise."""
    text = str(text).strip()
    if not text:
        raise UsageError("The frame range is empty; write it like '1001-1100'.")
    frames: set[int] = set()
    for part in text.split(","):
        m = _RANGE_PART.match(part)
        if not m:
            raise UsageError(f"'{part.strip()}' in frame range '{text}' is not like '1001-1100', '1001-1100x2' or '1001'.")
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if end < start:
            raise UsageError(f"Frame range '{part.strip()}' runs backwards; write the first frame first.")
        if step < 1:
            raise UsageError(f"Frame range '{part.strip()}' has step {step}; the step must be 1 or more.")
        frames.update(range(start, end + 1, step))
    return sorted(frames)


def format_frame_range(frames: list[int] | set[int]) -> str:
    """Compact text for a set of frames, e.g. '1001-1010,1012' (for status lines and messages)."""
    nums = sorted({int(f) for f in frames})
    if not nums:
        return ""
    parts, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def existing_frames(pattern: FramePattern | str, frames: list[int]) -> tuple[dict[int, Path], list[int]]:
    """Split `frames` into those whose file exists (non-empty) and those missing."""
    pat = pattern if isinstance(pattern, FramePattern) else FramePattern(pattern)
    present: dict[int, Path] = {}
    missing: list[int] = []
    for f in frames:
        p = pat.path(f)
        try:
            ok = p.is_file() and p.stat().st_size > 0
        except OSError:
            ok = False
        if ok:
            present[f] = p
        else:
            missing.append(f)
    return present, missing


def count_text(n: int, noun: str = "frame") -> str:
    """'1 frame', '3 frames': a count with its noun in the right number, for messages."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def single_frame_file(plate: str | os.PathLike) -> tuple[FramePattern, int] | None:
    """(its sequence's pattern, its frame) when `plate` names one numbered file such as `plates/p.1001.exr`
    (no #, @, %d or $F placeholder); None for a pattern, a movie or a name without a frame number."""
    text = str(plate)
    name = Path(text).name
    if is_movie(text) or any(mark in name for mark in ("#", "@", "%", "$F")):
        return None
    try:
        seq = fileseq.FileSequence(text, pad_style=fileseq.PAD_STYLE_HASH1)
    except ValueError:
        return None
    frame_set = seq.frameSet()
    if not seq.padding() or frame_set is None or len(frame_set) != 1:
        return None
    return FramePattern(text), int(frame_set[0])


# ---------------------------------------------------------------------------------------------------- movies
# A movie's frames are numbered from a first frame (DEFAULT_FIRST_FRAME unless a shot says otherwise), the way a
# plate's files are: frame `first_frame + i` is the movie's (i+1)-th decoded picture, its source index i.
DEFAULT_FIRST_FRAME = 1001
MOVIE_FRAME_HELP = (f"Wherever impasto reads an image (stylize, preview, sweep), MOVIE@N is frame N of a movie numbered from "
                    f"{DEFAULT_FIRST_FRAME} (its first picture is MOVIE@{DEFAULT_FIRST_FRAME}); raw indices such as @0 are refused.")
_MOVIE_REF = re.compile(r"^(?P<path>.+)@(?P<frame>-?\d+)$")
# A frame is near black when 99% of its pixels are darker than this (display-referred 0-1): a fade or a slug.
NEAR_BLACK = 0.06


def is_movie(path: str | os.PathLike) -> bool:
    """True for a movie file name (.mov, .mp4, ...), which is read with PyAV rather than as a frame pattern."""
    return Path(str(path)).suffix.lower() in MOVIE_EXTENSIONS


def split_movie_frame(text: str | os.PathLike) -> tuple[Path, int] | None:
    """`clip.mov@1040` -> (Path('clip.mov'), 1040): one frame of a movie, in the movie's numbering; None for
    anything else (a file that exists under the whole name is a file, whatever its name)."""
    m = _MOVIE_REF.match(str(text))
    if m is None or not is_movie(m.group("path")) or Path(str(text)).exists():
        return None
    return Path(m.group("path")), int(m.group("frame"))


def split_movie_range(text: str | os.PathLike) -> tuple[Path, list[int]] | None:
    """`clip.mov@1040-1100` (or `@1040`, any range parse_frame_range reads) -> (Path('clip.mov'), its frame
    numbers); None for anything else."""
    text = str(text)
    path, at, rng = text.rpartition("@")
    if not at or not is_movie(path) or Path(text).exists():
        return None
    return Path(path), parse_frame_range(rng)


def movie_source_index(frame: int, first_frame: int = DEFAULT_FIRST_FRAME) -> int:
    """The 0-based index of the decoded picture that frame number `frame` names, for a movie numbered from
    `first_frame` (1040 -> 39 for a movie numbered from 1001)."""
    return int(frame) - int(first_frame)


@dataclass
class MovieInfo:
    width: int
    height: int
    frames: int  # as the container reports it; 0 when unknown
    fps: float
    codec: str
    pix_fmt: str


def _open_movie(path: Path):
    import av  # deferred: loads FFmpeg's libraries, which only movie plates need

    if not path.exists():
        raise UsageError(f"Movie '{path}' does not exist.")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:  # type: ignore[attr-defined]
        raise UsageError(f"'{path}' is not a movie impasto can read ({exc}).") from None
    if not container.streams.video:
        container.close()
        raise UsageError(f"Movie '{path}' has no video stream.")
    return container


def movie_info(path: str | os.PathLike) -> MovieInfo:
    """Size, frame count, rate and codec of a movie's first video stream."""
    path = Path(path)
    container = _open_movie(path)
    try:
        s = container.streams.video[0]
        fps = float(s.average_rate or s.guessed_rate or 0)
        return MovieInfo(s.codec_context.width, s.codec_context.height, int(s.frames or 0), fps,
                         s.codec_context.name, str(s.codec_context.pix_fmt or ""))
    finally:
        container.close()


def movie_frame_count(path: str | os.PathLike) -> int:
    """How many pictures a movie holds: the container's count, else its video packets counted (no decoding)."""
    path = Path(path)
    info = movie_info(path)
    if info.frames > 0:
        return info.frames
    import av  # deferred: loads FFmpeg's libraries, which only movie plates need

    container = _open_movie(path)
    try:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise UsageError(f"Movie '{path}' could not be read to count its frames ({exc}).") from None
    finally:
        container.close()


def _decoded(path: Path, first_frame: int) -> Iterator[tuple[int, object, bool]]:
    """(frame number, PyAV frame, deeper than 8 bits) for each picture, decoding forward from the start."""
    import av  # deferred: loads FFmpeg's libraries, which only movie plates need

    container = _open_movie(path)
    number = int(first_frame)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pix = str(stream.codec_context.pix_fmt or "")
        deep = any(t in pix for t in ("10", "12", "16", "p010"))
        try:
            for vf in container.decode(stream):
                yield number, vf, deep
                number += 1
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise UsageError(f"Movie '{path}' could not be decoded at frame {number} ({exc}).") from None
    finally:
        container.close()


def _rgb(vf, deep: bool) -> np.ndarray:
    if deep:
        return vf.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
    return vf.to_ndarray(format="rgb24").astype(np.float32) / 255.0


def movie_frames(path: str | os.PathLike, first_frame: int = DEFAULT_FIRST_FRAME,
                 frames: list[int] | set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a movie as (frame number, float32 H×W×3 RGB 0-1), numbering its first picture `first_frame`.

    Movie pixels are display-referred (Rec.709/sRGB video); `frames` limits which are yielded, in the same
    numbering (decoding stops after the last one wanted). Sources deeper than 8 bits are decoded at 16 bits.
    """
    wanted = {int(f) for f in frames} if frames is not None else None
    last = max(wanted) if wanted else None
    for number, vf, deep in _decoded(Path(path), first_frame):
        if last is not None and number > last:
            break
        if wanted is None or number in wanted:
            yield number, _rgb(vf, deep)


def read_movie_frame(path: str | os.PathLike, frame: int, first_frame: int = DEFAULT_FIRST_FRAME) -> np.ndarray:
    """One frame of a movie (float32 H×W×3 RGB 0-1), `frame` in the movie's numbering from `first_frame`."""
    path = Path(path)
    if frame < first_frame:
        raise UsageError(
            f"Frame {frame} is before the first frame of movie '{path}', which is numbered from {first_frame} "
            f"(its first picture is {path.name}@{first_frame})."
        )
    last = None
    for last, vf, deep in _decoded(path, first_frame):
        if last == frame:
            return _rgb(vf, deep)
    held = f"{first_frame}-{last}" if last is not None else "no frames"
    raise UsageError(f"Movie '{path}' ends before frame {frame}; numbered from {first_frame} it holds {held}.")


def is_near_black(rgb: np.ndarray, level: float = NEAR_BLACK) -> bool:
    """True when 99% of a (display-referred) frame's pixels are darker than `level`: a fade to black or a slug."""
    step = max(1, max(rgb.shape[:2]) // 128)
    return float(np.percentile(rgb[::step, ::step].max(axis=2), 99)) < level


def spread(items: list, n: int) -> list:
    """Up to `n` of `items`, evenly spaced from the first to the last."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in dict.fromkeys(idx.tolist())]


def spread_movie_frames(path: str | os.PathLike, frames: list[int], count: int, *,
                        first_frame: int = DEFAULT_FIRST_FRAME, skip_black: bool = True
                        ) -> tuple[list[tuple[int, np.ndarray]], list[int]]:
    """Up to `count` frames of `frames` (movie numbering) spread evenly over them, in one forward decode.

    A near-black pick is replaced by the next frame that is not, before the next pick. Returns the (frame number,
    RGB) kept and the near-black frame numbers passed over.
    """
    frames = sorted({int(f) for f in frames})
    if not frames or count < 1:
        return [], []
    position = {f: k for k, f in enumerate(frames)}
    starts = [position[f] for f in spread(frames, count)]
    kept: list[tuple[int, np.ndarray]] = []
    black: list[int] = []
    slot = 0
    for number, vf, deep in _decoded(Path(path), first_frame):
        if number > frames[-1] or slot >= len(starts):
            break
        k = position.get(number)
        if k is None:
            continue
        while slot + 1 < len(starts) and k >= starts[slot + 1]:
            slot += 1  # the slot before held only near-black frames
        if k < starts[slot]:
            continue
        rgb = _rgb(vf, deep)
        if skip_black and is_near_black(rgb):
            black.append(number)
            continue
        kept.append((number, rgb))
        slot += 1
    return kept, black
