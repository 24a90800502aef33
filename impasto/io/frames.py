"""Production frames in and out through OpenImageIO: EXR, DPX, TIFF, PNG, JPEG with their layout and metadata.

A `Frame` holds the file's own values (scene-linear, log or display-encoded; nothing is clamped) as float32,
alpha apart, and a `FrameSpec` describing how the file was stored so a painted frame can be written back
with the plate's bit depth, compression, data window and metadata. `rgb` covers the data window, as OIIO
reads it; the display window is kept in the spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_path, disk_full, write_error
from impasto.io.images import read_pixels

# Extension -> (OIIO format name, pixel formats it can store, the one used when nothing else is asked for).
FORMATS: dict[str, tuple[str, tuple[str, ...], str]] = {
    ".exr": ("openexr", ("half", "float"), "half"),
    ".dpx": ("dpx", ("uint8", "uint10", "uint12", "uint16"), "uint10"),
    ".tif": ("tiff", ("uint8", "uint16", "half", "float"), "uint16"),
    ".tiff": ("tiff", ("uint8", "uint16", "half", "float"), "uint16"),
    ".png": ("png", ("uint8", "uint16"), "uint8"),
    ".jpg": ("jpeg", ("uint8",), "uint8"),
    ".jpeg": ("jpeg", ("uint8",), "uint8"),
}
# Formats whose data window can differ from the display window.
_WINDOWED = {"openexr", "tiff"}
# Formats with an alpha channel.
_ALPHA = {"openexr", "dpx", "tiff", "png"}
# Attributes of one format (dpx:..., openexr:...) mean nothing to another.
_FORMAT_PREFIXES = {"openexr", "dpx", "tiff", "png", "jpeg", "cineon"}
# Attributes that describe the old file's encoding rather than the picture; the writer sets its own.
_SKIP_ATTRS = {
    "compression", "oiio:BitsPerSample", "oiio:RowsPerChunk", "oiio:subimages", "oiio:UnassociatedAlpha",
    "tiff:RowsPerStrip", "tiff:PhotometricInterpretation", "tiff:PlanarConfiguration", "tiff:Compression",
    "dpx:Packing", "dpx:ImageDescriptor", "dpx:EndOfLinePadding", "dpx:EndOfImagePadding", "png:compressionLevel",
    "openexr:chunkCount", "openexr:version", "ICCProfile", "Software", "DateTime", "jpeg:subsampling",
}


@dataclass
class FrameSpec:
    """How a frame is (or will be) stored: size, windows, channels, pixel format, compression, metadata."""

    width: int
    height: int
    channels: tuple[str, ...] = ("R", "G", "B")
    pixel_format: str = "half"  # half, float, uint8, uint10, uint12, uint16
    compression: str = ""
    x: int = 0  # data window origin
    y: int = 0
    full_x: int = 0  # display window
    full_y: int = 0
    full_width: int = 0
    full_height: int = 0
    file_format: str = ""  # OIIO format name of the file read (openexr, dpx, ...), "" for a new frame
    attributes: dict[str, Any] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)  # OIIO TypeDesc strings, so types survive

    def __post_init__(self) -> None:
        if not self.full_width:
            self.full_width = self.width
        if not self.full_height:
            self.full_height = self.height

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the stored pixels."""
        return (self.x, self.y, self.width, self.height)

    @property
    def display_window(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the picture the pixels belong to."""
        return (self.full_x, self.full_y, self.full_width, self.full_height)

    @property
    def has_alpha(self) -> bool:
        return "A" in (c.upper() for c in self.channels)


@dataclass
class Frame:
    """A frame's pixels (float32, the file's own values, not clamped), its alpha if any, and its storage spec."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    spec: FrameSpec | None = None  # filled from the arrays when left out

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb, dtype=np.float32)
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise UsageError(f"A frame needs height × width × 3 RGB pixels, not shape {self.rgb.shape}.")
        if self.alpha is not None:
            self.alpha = np.asarray(self.alpha, dtype=np.float32)
            if self.alpha.ndim == 3 and self.alpha.shape[2] == 1:
                self.alpha = self.alpha[:, :, 0]
            if self.alpha.shape != self.rgb.shape[:2]:
                raise UsageError(f"The frame's alpha is {self.alpha.shape}, its RGB {self.rgb.shape[:2]}.")
        if self.spec is None:
            h, w = self.rgb.shape[:2]
            self.spec = FrameSpec(w, h, ("R", "G", "B", "A") if self.alpha is not None else ("R", "G", "B"))

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def _first_line(text: str | None) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def _pixel_format(spec: Any) -> str:
    name = str(spec.format)
    bits = spec.get_int_attribute("oiio:BitsPerSample", 0)
    if name == "uint16" and bits in (10, 12):
        return f"uint{bits}"
    if name in ("half", "float", "uint8", "uint16"):
        return name
    if name == "double":
        return "float"
    return "uint16" if name.startswith(("uint", "int")) else "float"


def read_frame(path: str | os.PathLike) -> Frame:
    """Read a frame: RGB (grey is repeated) and alpha as float32 in the file's own values, with its FrameSpec."""
    path = Path(path)
    pixels, spec, fmt = read_pixels(path, "Frame")
    names = [str(n) for n in spec.channelnames]
    rgb, alpha = _split_channels(pixels, names, spec.alpha_channel, path)
    attributes: dict[str, Any] = {}
    types: dict[str, str] = {}
    for p in spec.extra_attribs:
        attributes[p.name] = p.value
        types[p.name] = str(p.type)
    frame_spec = FrameSpec(
        width=spec.width, height=spec.height, channels=tuple(names), pixel_format=_pixel_format(spec),
        compression=spec.get_string_attribute("compression", ""), x=spec.x, y=spec.y,
        full_x=spec.full_x, full_y=spec.full_y, full_width=spec.full_width, full_height=spec.full_height,
        file_format=fmt, attributes=attributes, attribute_types=types,
    )
    return Frame(rgb=rgb, alpha=alpha, spec=frame_spec)


def _split_channels(px: np.ndarray, names: list[str], alpha_channel: int, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    upper = [n.upper() for n in names]

    def find(*cands: str) -> int | None:
        for c in cands:
            if c in upper:
                return upper.index(c)
        for c in cands:  # a layer's channels, e.g. 'rgba.R' or 'beauty.R'
            hits = [i for i, n in enumerate(upper) if n.endswith("." + c)]
            if hits:
                return hits[0]
        return None

    a = alpha_channel if 0 <= alpha_channel < len(names) else find("A", "ALPHA")
    r, g, b = find("R", "RED"), find("G", "GREEN"), find("B", "BLUE")
    if None not in (r, g, b):
        rgb = px[:, :, [r, g, b]]
    else:
        colour = [i for i in range(px.shape[2]) if i != a]
        if not colour:
            raise UsageError(f"Frame '{path}' has no colour channels (only {', '.join(names)}).")
        if len(colour) < 3:  # grey (+ alpha)
            rgb = np.repeat(px[:, :, colour[:1]], 3, axis=2)
        else:
            rgb = px[:, :, colour[:3]]
    alpha = px[:, :, a] if a is not None else None
    return np.ascontiguousarray(rgb), (np.ascontiguousarray(alpha) if alpha is not None else None)


def premultiply(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """RGB × alpha, leaving pixels with (near) zero alpha as they are so that unpremultiply undoes it exactly."""
    if alpha is None:
        return rgb
    a = alpha[..., None]
    return np.where(a > 1e-6, rgb * a, rgb).astype(np.float32)


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """RGB ÷ alpha where alpha > 0 (before colour transforms and painting); the inverse of `premultiply`."""
    if alpha is None:
        return rgb
    a = alpha[..., None]
    return np.where(a > 1e-6, rgb / np.maximum(a, 1e-6), rgb).astype(np.float32)


def output_format(path: str | os.PathLike) -> tuple[str, tuple[str, ...], str]:
    """(OIIO format, pixel formats it stores, default) for an output path; UsageError for an unknown extension."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise UsageError(f"'{path}' has an extension impasto does not write; use one of {', '.join(sorted(FORMATS))}.")
    return FORMATS[ext]


def write_frame(path: str | os.PathLike, frame: Frame, like: FrameSpec | None = None) -> Path:
    """Write a frame atomically, stored like `like` (default: the frame's own spec) where the format allows.

    Bit depth, compression, data/display window and metadata are copied from `like` when the format can hold
    them (the window only if its size matches the pixels); otherwise the format's default is used.
    """
    path = Path(path)
    fmt, depths, default_depth = output_format(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Output folder '{folder}' does not exist.")
    like = like or frame.spec
    assert like is not None and frame.spec is not None
    h, w = frame.rgb.shape[:2]
    same_format = like.file_format == fmt

    depth = like.pixel_format if like.pixel_format in depths else default_depth
    if depth in ("uint10", "uint12") and fmt != "dpx":
        depth = "uint16"
    oiio_type = {"half": oiio.HALF, "float": oiio.FLOAT, "uint8": oiio.UINT8}.get(depth, oiio.UINT16)
    with_alpha = frame.alpha is not None and fmt in _ALPHA
    nch = 4 if with_alpha else 3
    spec = oiio.ImageSpec(w, h, nch, oiio_type)
    spec.channelnames = ("R", "G", "B", "A")[:nch]
    spec.alpha_channel = 3 if with_alpha else -1
    if (like.width, like.height) == (w, h) and fmt in _WINDOWED:
        spec.x, spec.y = like.x, like.y
        spec.full_x, spec.full_y = like.full_x, like.full_y
        spec.full_width, spec.full_height = like.full_width, like.full_height
    for name, value in like.attributes.items():
        prefix = name.split(":")[0] if ":" in name else ""
        if name in _SKIP_ATTRS or (prefix in _FORMAT_PREFIXES and prefix != fmt):
            continue
        tname = like.attribute_types.get(name)
        try:
            if tname:
                spec.attribute(name, oiio.TypeDesc(tname), value)
            else:
                spec.attribute(name, value)
        except (TypeError, ValueError, RuntimeError):
            continue  # an attribute OIIO cannot re-encode is dropped rather than failing the frame
    if depth in ("uint10", "uint12"):
        spec.attribute("oiio:BitsPerSample", int(depth[4:]))
    if same_format and like.compression:
        spec.attribute("compression", like.compression)
    elif fmt in ("openexr", "tiff"):
        spec.attribute("compression", "zip")
    if fmt == "jpeg":
        spec.attribute("CompressionQuality", 95)

    pixels = np.empty((h, w, nch), dtype=np.float32)
    pixels[:, :, :3] = frame.rgb
    if with_alpha:
        assert frame.alpha is not None
        pixels[:, :, 3] = frame.alpha
    if not np.isfinite(pixels).all():
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=65504.0, neginf=-65504.0)
    if oiio_type in (oiio.UINT8, oiio.UINT16):
        np.clip(pixels, 0.0, 1.0, out=pixels)  # integer formats hold 0-1; say so rather than let them wrap
    if depth in ("uint10", "uint12"):
        # OIIO keeps the top bits of a 16-bit value (truncation); snapping to the 10/12-bit grid first rounds.
        top = float((1 << int(depth[4:])) - 1)
        pixels = np.round(pixels * top) / top
    elif oiio_type == oiio.HALF:
        np.clip(pixels, -65504.0, 65504.0, out=pixels)

    # Stop before writing on a (nearly) full disk: libjpeg ends the process on a failed write, and a full disk
    # is better found here than as a truncated file. The bound is the uncompressed size at the stored depth.
    stored = h * w * nch * {"uint8": 1, "half": 2, "float": 4}.get(depth, 2)
    if disk_full(None, path.parent if str(path.parent) else ".", stored + (64 << 10)):
        raise ImpastoError(f"The disk is full: could not write '{path}'.")

    # Same folder and extension: OpenImageIO picks the format from the name, and the rename stays atomic.
    with atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise write_error(path, oiio.geterror() or (out.geterror() if out else ""), pixels.nbytes)
        ok = out.write_image(pixels)
        ok = out.close() and ok
        if not ok:
            raise write_error(path, out.geterror(), pixels.nbytes)
        _verify(tmp, path, pixels.nbytes)
    return path


def _verify(tmp: Path, path: Path, needed: int) -> None:
    """Read the written file back before it takes the real name: some writers (PNG) miss a full disk."""
    inp = oiio.ImageInput.open(str(tmp))
    if inp is None:
        raise write_error(path, oiio.geterror(), needed)
    try:
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
        err = inp.geterror()
    finally:
        inp.close()
    if px is None or err:
        raise write_error(path, err or "the written file does not read back", needed)


def with_pixels(frame: Frame, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Frame:
    """A new frame with other pixels (e.g. the painted ones) and the same storage spec."""
    return Frame(rgb=rgb, alpha=frame.alpha if alpha is None else alpha, spec=replace(frame.spec) if frame.spec else None)
