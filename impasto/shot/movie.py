"""Review movies with PyAV: ProRes 422 HQ (default) or H.264, with an optional frame-number burn-in.

A review movie has one picture per frame number from its first to its last: a frame that is not painted (or not
readable) is held as a dark slate burnt in with "NNNN not painted", so every later frame keeps its true timecode.
`write_review_movie` writes any (frame, picture) sequence; `impasto.shot.review` makes a shot version's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_path, disk_full

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
