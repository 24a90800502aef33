"""Image files in and out through OpenImageIO; every write goes to a temporary name, then is renamed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_path

# Formats and the pixel type written for each; EXR/DPX and colour management arrive with shot rendering.
WRITE_TYPES = {".png": "uint8", ".jpg": "uint8", ".jpeg": "uint8", ".tif": "uint16", ".tiff": "uint16", ".exr": "half"}
MIN_SIDE = 32


def read_pixels(path: str | os.PathLike, what: str = "Image"):
    """All channels of a file as float32 H×W×C in its own values, with its ImageSpec and format name."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{what} '{path}' does not exist.")
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder, not {'an' if what[0] in 'AEIOU' else 'a'} {what.lower()}.")
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise UsageError(f"'{path}' is not an image impasto can read ({_first_line(oiio.geterror()) or 'unknown format'}).")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
        err = inp.geterror()
        fmt = inp.format_name()
    finally:
        inp.close()
    if pixels is None or err:
        raise UsageError(f"{what} '{path}' is corrupt or truncated ({_first_line(err) or 'no pixels'}).")
    return np.asarray(pixels, dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels), spec, fmt


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image OpenImageIO knows as float32 H×W×3 RGB in 0-1 (grey, alpha, 16-bit and CMYK are converted)."""
    pixels, spec, _ = read_pixels(path)
    return to_rgb(pixels, channel_names=list(spec.channelnames), source=str(path))


def to_rgb(pixels: np.ndarray, channel_names: list[str] | None = None, source: str = "image") -> np.ndarray:
    """Any H×W(×C) array (uint8, uint16 or float) as float32 H×W×3 RGB in 0-1."""
    arr = np.asarray(pixels)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    else:
        raise UsageError(f"The {source} has pixel type {arr.dtype}, which impasto does not read.")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise UsageError(f"The {source} has shape {arr.shape}, not height × width × channels.")
    names = [n.upper() for n in (channel_names or [])]
    c = arr.shape[2]
    if names[:4] == ["C", "M", "Y", "K"]:
        cmy, k = arr[:, :, :3], arr[:, :, 3:4]
        arr = (1.0 - cmy) * (1.0 - k)
    elif c in (1, 2):  # grey, grey + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif c >= 3:  # RGB, RGBA: alpha is not painted
        arr = arr[:, :, :3]
    else:
        raise UsageError(f"The {source} has no channels.")
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UsageError(f"The {source} is {w}×{h} px; impasto needs at least {MIN_SIDE} px on each side.")
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


def header_size(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """(width, height) from an image's header, without reading its pixels; (None, None) if unreadable."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()  # clear OIIO's error for the next caller
        return None, None
    try:
        return inp.spec().width, inp.spec().height
    finally:
        inp.close()


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, if `path` cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_TYPES:
        raise UsageError(f"Output '{path}' has an extension impasto does not write; use one of {', '.join(sorted(WRITE_TYPES))}.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Output folder '{folder}' does not exist.")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"Output folder '{folder}' is not writable.")
    return path


def write_image(path: str | os.PathLike, rgb: np.ndarray, attributes: dict[str, str] | None = None) -> Path:
    """Write float H×W×3 RGB in 0-1 atomically (temporary file, then rename); returns the path."""
    path = check_writable(path)
    arr = np.ascontiguousarray(np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0))
    h, w, c = arr.shape
    pixel_type = {"uint8": oiio.UINT8, "uint16": oiio.UINT16, "half": oiio.HALF}[WRITE_TYPES[path.suffix.lower()]]
    spec = oiio.ImageSpec(w, h, c, pixel_type)
    for key, value in (attributes or {}).items():
        spec.attribute(key, value)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        spec.attribute("CompressionQuality", 95)
    # Same folder and extension: OpenImageIO picks the format from the name, and the rename stays atomic.
    with atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise ImpastoError(f"Could not write '{path}' ({_first_line(oiio.geterror() or (out.geterror() if out else ''))}).")
        ok = out.write_image(arr)
        ok = out.close() and ok
        if not ok:
            raise ImpastoError(f"Could not write '{path}' ({_first_line(out.geterror())}).")
    return path


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""
