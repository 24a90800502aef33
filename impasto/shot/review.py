"""Review movies with PyAV: ProRes 422 HQ (default) or H.264, with an optional frame-number burn-in.

A review movie has one picture per frame number from its first to its last: a frame that is not painted (or not
readable) is held as a dark slate burnt in with "NNNN not painted", so every later frame keeps its true timecode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_path, disk_full
from impasto.io.frames import Frame, read_frame
from impasto.io.sequence import format_frame_range
from impasto.shot.config import Shot
from impasto.shot.manifest import read_manifest

NOT_PAINTED = "not painted"
# What a review item's picture may be: display RGB 0-1, or a slate's words (None: NOT_PAINTED).
Picture = np.ndarray | str | None

# codec option -> encoders to try, in order, with their pixel format and options.
ENCODERS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "prores": [
        ("prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"}),  # profile 3 = 422 HQ
        ("prores_aw", "yuv422p10le", {"profile": "3"}),
    ],
    "h264": [
        ("libx264", "yuv420p", {"crf": "16", "preset": "medium"}),
        ("libopenh264", "yuv420p", {}),
    ],
}
CODECS = tuple(ENCODERS)


def available_encoders() -> dict[str, str | None]:
    """For each codec option, the encoder this PyAV build would use (None where it has none)."""
    import av  # optional and heavy (FFmpeg): loaded only when movies are asked about

    have = av.codecs_available
    found: dict[str, str | None] = {}
    for codec, tries in ENCODERS.items():
        found[codec] = None
        for name, _, _ in tries:
            if name in have:
                try:
                    av.codec.Codec(name, "w")
                except ValueError:  # a decoder only: no encoder of that name
                    continue
                found[codec] = name
                break
    return found


def _pick_encoder(codec: str) -> tuple[str, str, dict[str, str]]:
    if codec not in ENCODERS:
        raise UsageError(f"Review codec '{codec}' is unknown; use one of {', '.join(CODECS)}.")
    name = available_encoders()[codec]
    if name is None:
        others = [c for c, e in available_encoders().items() if e and c != codec]
        hint = f"; use --codec {others[0]} instead" if others else ""
        raise UsageError(f"This PyAV/FFmpeg build has no {codec} encoder{hint}.")
    return next(t for t in ENCODERS[codec] if t[0] == name)


def draw_burn_in(rgb: np.ndarray, text: str, *, top: bool = False) -> np.ndarray:
    """Draw `text` in the bottom-left corner (`top`: the top-left) of a 0-1 RGB image, on a darkened box,
    returning a new array."""
    img = np.array(rgb, dtype=np.float32, copy=True)
    h, w = img.shape[:2]
    size = max(10, h // 18)
    pad = max(2, size // 4)
    box_w = min(w, int(len(text) * size * 0.62) + 2 * pad)
    box_h = min(h, size + 2 * pad)
    box_top = 0 if top else h - box_h
    img[box_top:box_top + box_h, :box_w] *= 0.25
    try:
        buf = oiio.ImageBuf(np.ascontiguousarray(img))
        ok = oiio.ImageBufAlgo.render_text(buf, pad, box_top + box_h - pad - max(1, size // 5), text, size,
                                           "DroidSansMono", (1.0, 1.0, 1.0))
        if ok and not buf.has_error:
            return np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(img.shape)
    except (RuntimeError, TypeError, ValueError):  # no font support in this OIIO build: Pillow's font still works
        pass
    from PIL import Image, ImageDraw, ImageFont  # the fallback only: most OIIO builds draw text themselves

    pil = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:
        font = ImageFont.load_default()
    draw.text((pad, box_top + pad // 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(pil, dtype=np.float32) / 255.0


def frame_timecode(frame: int, fps: float) -> str:
    """Non-drop timecode of a frame number counted from 00:00:00:00 (frame 1001 at 24 fps = 00:00:41:17)."""
    base = max(1, round(fps))
    frame = max(0, int(frame))
    ff = frame % base
    secs = frame // base
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}"


def review_rate(fps: float | Fraction) -> Fraction:
    """The exact rate a movie is written at: 23.976 is 24000/1001 (as are 29.97, 47.952, 59.94, 119.88 with
    their whole rates), a whole rate stays whole, anything else is the nearest fraction over at most 1001."""
    rate = Fraction(fps)
    if rate <= 0:
        raise UsageError(f"The review frame rate must be positive, not {float(fps):g}.")
    if rate.denominator == 1 or rate.denominator == 1001:
        return rate
    value = float(rate)
    if abs(value - round(value)) < 1e-6:
        return Fraction(round(value))
    ntsc = value * 1.001
    if abs(ntsc - round(ntsc)) < 0.01:
        return Fraction(round(ntsc) * 1000, 1001)
    return rate.limit_denominator(1001)


def movie_rate(path: str | os.PathLike) -> Fraction | None:
    """A movie's exact frame rate as its video stream states it (24000/1001, not 23.976); None when unknown."""
    import av  # optional and heavy (FFmpeg): loaded only when movies are asked about

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            s = container.streams.video[0]
            rate = s.average_rate or s.guessed_rate or s.base_rate
    except (av.error.FFmpegError, OSError):  # type: ignore[attr-defined]  # unreadable: the caller's default holds
        return None
    return review_rate(Fraction(rate)) if rate else None


def describe_rate(rate: Fraction) -> str:
    """23.976 fps (24000/1001), 25 fps."""
    if rate.denominator == 1:
        return f"{rate.numerator} fps"
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") + f" fps ({rate.numerator}/{rate.denominator})"


def slate(size: tuple[int, int], number: int, words: str) -> np.ndarray:
    """A dark grey frame of `size` (height, width) burnt in with 'NUMBER words' (a frame held in a review)."""
    return draw_burn_in(np.full((*size, 3), 0.08, np.float32), f"{number} {words}")


def _even(rgb: np.ndarray) -> np.ndarray:
    """Pad to even width and height by repeating the last row/column (chroma subsampling needs even sizes)."""
    h, w = rgb.shape[:2]
    ph, pw = h % 2, w % 2
    if ph or pw:
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return rgb


def write_review_movie(frames: Iterable[tuple[int, Picture]], path: str | os.PathLike,
                       fps: float | Fraction = 24, codec: str = "prores", burn_in: bool = False,
                       span: tuple[int, int] | None = None) -> Path:
    """Write (frame number, display RGB 0-1) pairs as a movie, atomically (temporary name, then rename).

    Frame numbers must rise; every number between two given ones (and, with `span` (first, last), before and after
    them) is held as a slate burnt in with "NUMBER not painted", as is a frame whose picture is None (a string:
    a slate with those words), so frame N sits at timecode N. ProRes is 422 HQ (prores_ks profile 3,
    yuv422p10le, 10-bit from the float pixels); H.264 is libx264 yuv420p. Odd sizes are padded to even. All
    frames must share the first picture's size.
    """
    import av  # optional and heavy (FFmpeg): loaded only when a movie is written

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Output folder '{folder}' does not exist.")
    if path.suffix.lower() not in (".mov", ".mp4", ".mkv", ".m4v"):
        raise UsageError(f"Review movie '{path}' needs a .mov, .mp4 or .mkv extension.")
    if codec == "prores" and path.suffix.lower() != ".mov":
        raise UsageError(f"ProRes review movies go in a .mov file, not '{path.name}'.")
    if not fps or fps <= 0:
        raise UsageError(f"The review frame rate must be positive, not {fps}.")
    rate = review_rate(fps)
    encoder = _pick_encoder(codec)
    with atomic_path(path) as tmp:
        try:
            _encode(av, _held(frames, span, path), tmp, path, encoder, rate, burn_in)
        except (av.error.FFmpegError, OSError) as exc:  # type: ignore[attr-defined]
            if disk_full(exc):
                raise ImpastoError(f"The disk is full: could not write review movie '{path}'.") from None
            raise ImpastoError(f"Could not write review movie '{path}' ({getattr(exc, 'strerror', None) or exc}).") from None
    return path


def _held(frames: Iterable[tuple[int, Picture]], span: tuple[int, int] | None, path: Path
          ) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Every frame number from the first (or span's first) to the last (or span's last), as (number, picture,
    is a slate): the gaps and the frames without a picture become slates of the first picture's size."""
    waiting: list[tuple[int, str]] = []  # slates before the first picture, whose size is not known yet
    size: tuple[int, int] | None = None
    last: int | None = None if span is None else span[0] - 1
    for number, picture in frames:
        number = int(number)
        if last is not None and number <= last:
            what = f"before the review's first frame {span[0]}" if span and number < span[0] else "out of order"
            raise UsageError(f"Review frame {number} is {what}; frames must rise one by one.")
        if span is not None and number > span[1]:
            raise UsageError(f"Review frame {number} is after the review's last frame {span[1]}.")
        waiting.extend((n, NOT_PAINTED) for n in range(number if last is None else last + 1, number))
        last = number
        if picture is None or isinstance(picture, str):
            waiting.append((number, picture or NOT_PAINTED))
            if size is None:
                continue
        else:
            arr = np.asarray(picture, dtype=np.float32)
            if arr.ndim != 3 or arr.shape[2] < 3:
                raise UsageError(f"Review frame {number} has shape {arr.shape}, not height × width × 3.")
            if size is None:
                size = arr.shape[:2]
        for n, words in waiting:
            yield n, slate(size, n, words), True
        waiting = []
        if picture is not None and not isinstance(picture, str):
            yield number, arr, False
    if size is None:
        raise UsageError(f"No frames to write to review movie '{path}': none is painted.")
    for n in range(last + 1, span[1] + 1) if span is not None else ():
        yield n, slate(size, n, NOT_PAINTED), True


def _encode(av, frames: Iterable[tuple[int, np.ndarray, bool]], tmp: Path, path: Path,
            encoder: tuple[str, str, dict[str, str]], rate: Fraction, burn_in: bool) -> None:
    """Encode the frames into the movie file `tmp` (`path` is the name the user sees in messages)."""
    name, pix_fmt, options = encoder
    container = av.open(str(tmp), mode="w")
    try:
        stream = None
        size: tuple[int, int] | None = None
        for count, (number, rgb, held) in enumerate(frames):
            arr = np.asarray(rgb, dtype=np.float32)
            arr = np.clip(np.nan_to_num(arr[:, :, :3]), 0.0, 1.0)
            if size is None:
                size = arr.shape[:2]
            elif arr.shape[:2] != size:
                raise UsageError(f"Review frame {number} is {arr.shape[1]}×{arr.shape[0]} px, the first was {size[1]}×{size[0]}.")
            if burn_in and not held:
                arr = draw_burn_in(arr, str(number))
            arr = _even(arr)
            if stream is None:
                stream = _add_stream(container, name, pix_fmt, options, rate, arr.shape[1], arr.shape[0], number)
            # 16-bit RGB in, so ProRes keeps 10 bits; converted with the BT.709 matrix the stream is tagged with.
            vf = av.VideoFrame.from_ndarray((arr * 65535.0 + 0.5).astype(np.uint16), format="rgb48le")
            vf = vf.reformat(format=pix_fmt, dst_colorspace="ITU709")
            vf.pts = count
            vf.time_base = Fraction(1) / rate
            for packet in stream.encode(vf):
                container.mux(packet)
        if stream is None:
            raise UsageError(f"No frames to write to review movie '{path}'.")
        for packet in stream.encode(None):
            container.mux(packet)
    except BaseException:
        try:
            container.close()
        except (av.error.FFmpegError, OSError):  # type: ignore[attr-defined]  # already failing; the file goes
            pass
        raise
    container.close()


def _add_stream(container, encoder: str, pix_fmt: str, options: dict[str, str], rate: Fraction, width: int,
                height: int, first: int):
    stream = container.add_stream(encoder, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = pix_fmt
    stream.options = dict(options)
    stream.codec_context.color_range = 1  # MPEG (limited) range, as players expect
    stream.codec_context.colorspace = 1  # BT.709 matrix
    stream.codec_context.color_primaries = 1
    stream.codec_context.color_trc = 1
    # A timecode track so editorial sees the plate's frame numbers.
    stream.metadata["timecode"] = frame_timecode(first, float(rate))
    return stream


@dataclass
class ShotReview:
    """What `review_shot` wrote: the movie, its rate, and which frames are paintings, slates and damaged files."""

    path: Path
    rate: Fraction
    rate_from: str  # where the rate came from, in words
    frames: list[int]  # every frame in the movie, first to last
    painted: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # held as "not painted" slates
    damaged: list[int] = field(default_factory=list)  # painted files that could not be read: held as slates
    version: int | None = None  # the version reviewed
    compare: int | None = None  # the version shown beside it (plate | version | compare)
    compare_missing: list[int] = field(default_factory=list)  # frames the compared version has no painting of


def shot_rate(shot: Shot, fps: float | None = None) -> tuple[Fraction, str]:
    """The review's exact rate and where it came from: `fps` if given, else the shot file's review.fps, except that
    a movie plate's own rate wins over the untouched default of 24 (a 23.976 plate reviews at 24000/1001)."""
    if fps is not None:
        return review_rate(fps), "--fps"
    default = type(shot.review).model_fields["fps"].default
    if shot.plate_is_movie and shot.review.fps == default:
        rate = movie_rate(shot.plate_path())
        if rate is not None:
            return rate, "the movie plate"
    return review_rate(shot.review.fps), "the shot file"


def review_shot(shot: Shot, path: str | os.PathLike, display: Callable[[Frame], np.ndarray], *,
                fps: float | None = None, codec: str | None = None, burn_in: bool | None = None,
                version: int | None = None, compare: int | None = None,
                plate: Callable[[int], np.ndarray] | None = None,
                progress: Callable[[int, int], None] | None = None) -> ShotReview:
    """A review movie of a shot version from its first frame to its last, display-referred through `display`:
    a frame not painted (or whose file cannot be read) is held as a slate saying so, so timecodes stay true; in a
    stepped range (1001-1009x2) a frame between two of the shot's holds the painting before it.

    With `compare` (another version) each picture is plate | this version | version `compare` side by side, each
    panel labelled (with the boil its frame was painted at, when the manifest records one); `plate(n)` gives the
    plate's display picture of frame n. A panel without a painting is a slate saying why."""
    v = shot.output.version if version is None else version
    pattern = shot.output_pattern(v)
    wanted = shot.frame_list()
    rate, rate_from = shot_rate(shot, fps)
    frames = list(range(min(wanted), max(wanted) + 1))
    report = ShotReview(Path(path), rate, rate_from, frames, version=v, compare=compare)
    report.painted = [n for n in wanted if pattern.path(n).is_file()]
    if not report.painted:
        raise UsageError(f"Version {v} of {shot.name} has no painted frames yet; run impasto render first.")
    panels = None if compare is None else _Panels(shot, v, compare, display, plate, report)
    painted, shot_frames = set(report.painted), set(wanted)

    def pictures() -> Iterator[tuple[int, Picture]]:
        held: Picture = "not in the shot"
        for i, n in enumerate(frames):
            picture: Picture = None
            if n not in shot_frames:  # a stepped range (on twos): the frame before holds, as it would on film
                picture = held
            elif panels is not None:
                picture = held = panels.picture(n)
            elif n in painted:
                try:
                    picture = held = display(read_frame(pattern.path(n)))
                except ImpastoError:  # a truncated or damaged painted file: held like a gap, and listed
                    report.damaged.append(n)
                    picture = "damaged"
            if progress:
                progress(i + 1, len(frames))
            yield n, picture

    write_review_movie(pictures(), path, fps=rate, codec=codec or shot.review.codec,
                       burn_in=shot.review.burn_in if burn_in is None else burn_in, span=(frames[0], frames[-1]))
    report.missing = [n for n in wanted if n not in painted]
    return report


class _Panels:
    """Pictures of plate | version | compared version side by side, every panel the size of the painted frames."""

    def __init__(self, shot: Shot, version: int, compare: int, display: Callable[[Frame], np.ndarray],
                 plate: Callable[[int], np.ndarray] | None, report: ShotReview) -> None:
        if compare == version:
            raise UsageError(f"--compare {compare} is the version under review; compare with another version.")
        wanted = shot.frame_list()
        self.patterns = {version: shot.output_pattern(version), compare: shot.output_pattern(compare)}
        others = [n for n in wanted if self.patterns[compare].path(n).is_file()]
        if not others:
            raise UsageError(f"Version {compare} of {shot.name} has no painted frames to compare with; render it or "
                             "pick another version.")
        report.compare_missing = [n for n in wanted if n not in set(others)]
        self.shot, self.version, self.compare = shot, version, compare
        self.display, self.plate, self.report = display, plate, report
        self.boils = {w: {n: getattr(e, "boil", None) for n, e in read_manifest(shot.manifest_path(w)).frames.items()}
                      for w in (version, compare)}
        self.size: tuple[int, int] | None = None
        for w, n in [(version, n) for n in report.painted] + [(compare, n) for n in others]:
            try:
                self.size = self.display(read_frame(self.patterns[w].path(n))).shape[:2]
                break
            except ImpastoError:
                continue
        if self.size is None:
            raise UsageError(f"No painted frame of version {version} or {compare} of {shot.name} can be read.")

    def _fit(self, picture: np.ndarray) -> np.ndarray:
        picture = np.asarray(picture, dtype=np.float32)[..., :3]
        h, w = self.size
        if picture.shape[:2] == (h, w):
            return picture
        from PIL import Image  # only for a panel of another size (a plate read at a different resolution)

        chans = [np.asarray(Image.fromarray(picture[..., c]).resize((w, h), Image.BILINEAR)) for c in range(3)]
        return np.stack(chans, -1).astype(np.float32)

    def _painted(self, w: int, n: int) -> np.ndarray:
        label = f"v{w:03d}"
        boil = self.boils[w].get(n)
        if boil is not None:
            label += f" boil {boil:g}"
        path = self.patterns[w].path(n)
        if not path.is_file():
            return slate(self.size, n, f"v{w:03d} {NOT_PAINTED}")
        try:
            return draw_burn_in(self._fit(self.display(read_frame(path))), label, top=True)
        except ImpastoError:
            if w == self.version:
                self.report.damaged.append(n)
            return slate(self.size, n, f"v{w:03d} damaged")

    def picture(self, n: int) -> np.ndarray:
        try:
            left = draw_burn_in(self._fit(self.plate(n)), "plate", top=True) if self.plate else None
        except ImpastoError:
            left = None
        if left is None:
            left = slate(self.size, n, "plate unreadable")
        return np.concatenate([left, self._painted(self.version, n), self._painted(self.compare, n)], axis=1)


def describe_review(report: ShotReview) -> str:
    """The sentence after 'wrote MOVIE:' that says what a review holds."""
    held = []
    if report.missing:
        mine = f" in v{report.version:03d}" if report.compare is not None and report.version is not None else ""
        held.append(f"{_frames(report.missing)} not painted{mine}")
    if report.damaged:
        held.append(f"{_frames(report.damaged)} damaged (unreadable)")
    if report.compare is not None and report.compare_missing:
        held.append(f"{_frames(report.compare_missing)} not painted in v{report.compare:03d}")
    text = (f"{len(report.frames)} frame{'s' if len(report.frames) != 1 else ''} "
            f"({format_frame_range(report.frames)}) at {describe_rate(report.rate)} from {report.rate_from}")
    if held:
        text += f"; {' and '.join(held)}, held as slates so every frame keeps its timecode"
    return text


def _frames(numbers: list[int]) -> str:
    return f"frame{'s' if len(numbers) != 1 else ''} {format_frame_range(numbers)}"
