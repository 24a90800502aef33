"""Mattes in: one channel of an image or a frame of a matte sequence, as H×W float32 in 0-1.

A matte file is read through OpenImageIO (`impasto.io.images.read_pixels`), so every format a plate can be in works
(EXR with layers, DPX, TIFF, PNG...). Its channel is the one asked for (`R`, `A`, an EXR layer channel such as
`fg.A`, also from a later part of a multi-part EXR), else the only one, else alpha, else red. An EXR whose data
window is smaller than its display window (a matte cropped to its bounding box, as Nuke writes them) is placed in
its display window, zero outside.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import torch
import torch.nn.functional as F

from impasto.errors import UsageError
from impasto.files import file_digest
from impasto.io.images import read_pixels
from impasto.io.sequence import FramePattern

# A frame number placeholder: plate.####.exr, plate.@@@@.exr, plate.%04d.exr, plate.$F4.exr.
_PLACEHOLDER = re.compile(r"#|@|%0?\d*d|\$F\d*")
ALPHA_NAMES = ("A", "ALPHA")
RED_NAMES = ("R", "RED")
# A Gaussian-blurred hard edge rises from 10 % to 90 % over 2 × 1.2816 sigma: the width a feather of px asks for.
RAMP_PER_SIGMA = 2 * 1.2816


def is_pattern(matte: str | os.PathLike) -> bool:
    """Whether a matte path names a sequence (has a frame number placeholder) rather than one file."""
    return bool(_PLACEHOLDER.search(Path(matte).name))


def matte_path(matte: str | os.PathLike, frame: int | None = None) -> Path:
    """The file of a matte: the path itself, or a pattern's file for `frame` (one sentence when none is given)."""
    if not is_pattern(matte):
        return Path(matte)
    if frame is None:
        raise UsageError(f"The matte '{matte}' is a frame pattern; give a single matte image to paint a single picture.")
    return FramePattern(matte).path(frame)


def read_matte(path: str | os.PathLike, channel: str | None = None, frame: int | None = None) -> np.ndarray:
    """One channel of a matte image (or of frame `frame` of a matte pattern) as H×W float32 in 0-1.

    `channel`: a channel name (exact, else in any case), e.g. `R`, `A` or an EXR layer channel `fg.A`; default: the
    only channel, else alpha, else red. A missing file, an unknown channel or an unreadable file is one sentence.
    """
    file = matte_path(path, frame)
    where = f"Matte frame {frame} '{file}'" if is_pattern(path) else f"Matte '{file}'"
    if not file.exists():
        raise UsageError(f"{where} does not exist.")
    pixels, spec, _ = read_pixels(file, "Matte")
    names = [str(n) for n in spec.channelnames]
    if channel is not None and _find(names, channel) is None:
        plane, spec = _other_part(file, channel, names, where)  # a later part of a multi-part EXR
    else:
        plane = pixels[:, :, _channel_index(names, channel, spec.alpha_channel, where)]
    plane = np.nan_to_num(plane, nan=0.0, posinf=1.0, neginf=0.0)
    plane = _display_window(plane, spec)
    return np.ascontiguousarray(np.clip(plane, 0.0, 1.0), dtype=np.float32)


def _find(names: list[str], channel: str) -> int | None:
    """A channel's index: its exact name, else the name in any case."""
    if channel in names:
        return names.index(channel)
    folded = [n.casefold() for n in names]
    return folded.index(channel.casefold()) if channel.casefold() in folded else None


def _parts(file: Path) -> list:
    """The ImageSpecs of a file's subimages after the first (the later parts of a multi-part EXR)."""
    inp = oiio.ImageInput.open(str(file))
    if inp is None:
        return []
    specs, n = [], 1
    try:
        while inp.seek_subimage(n, 0):
            specs.append(inp.spec())
            n += 1
    finally:
        inp.close()
    return specs


def _part_names(spec) -> list[str]:
    """A part's channels, named part.channel when its own names do not carry the part's name (Nuke's layers)."""
    part = str(spec.getattribute("name") or "")
    names = [str(n) for n in spec.channelnames]
    return [n if not part or n.startswith(part + ".") or "." in n else f"{part}.{n}" for n in names]


def _other_part(file: Path, channel: str, first: list[str], where: str) -> tuple[np.ndarray, object]:
    """(plane, spec) of `channel` in a later part of a multi-part EXR; one sentence listing every channel if none
    has it."""
    parts = _parts(file)
    for n, spec in enumerate(parts, start=1):
        own = [str(c) for c in spec.channelnames]
        i = _find(own, channel)
        i = _find(_part_names(spec), channel) if i is None else i
        if i is None:
            continue
        inp = oiio.ImageInput.open(str(file))
        try:
            px = inp.read_image(n, 0, i, i + 1, oiio.FLOAT) if inp is not None else None
        finally:
            if inp is not None:
                inp.close()
        if px is None:
            raise UsageError(f"{where} is corrupt or truncated (its part '{spec.getattribute('name')}').")
        return np.asarray(px, dtype=np.float32).reshape(spec.height, spec.width), spec
    every = [*first, *(c for spec in parts for c in _part_names(spec))]
    raise UsageError(f"{where} has no channel '{channel}'; it has {', '.join(every)}.")


def _channel_index(names: list[str], channel: str | None, alpha_channel: int, where: str) -> int:
    if channel is not None:
        i = _find(names, channel)
        if i is None:
            raise UsageError(f"{where} has no channel '{channel}'; it has {', '.join(names)}.")
        return i
    if len(names) == 1:
        return 0
    upper = [n.upper() for n in names]
    if 0 <= alpha_channel < len(names):
        return alpha_channel
    for wanted in (ALPHA_NAMES, RED_NAMES):
        for i, n in enumerate(upper):
            if n in wanted:
                return i
    raise UsageError(f"{where} has channels {', '.join(names)} and none is A or R; name the one to use with channel.")


def _display_window(plane: np.ndarray, spec) -> np.ndarray:
    """The data window placed in the display window (zero where the file has no pixels)."""
    full_w, full_h = int(spec.full_width), int(spec.full_height)
    x, y = int(spec.x) - int(spec.full_x), int(spec.y) - int(spec.full_y)
    h, w = plane.shape
    if (x, y, w, h) == (0, 0, full_w, full_h) or full_w <= 0 or full_h <= 0:
        return plane
    out = np.zeros((full_h, full_w), dtype=np.float32)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, full_w), min(y + h, full_h)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = plane[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def alpha_matte(rgba: np.ndarray, what: str = "picture") -> np.ndarray:
    """The alpha of an H×W×4 (or grey + alpha H×W×2) picture as an H×W float32 0-1 matte; an H×W array is taken as
    the alpha itself. One sentence when the picture has no alpha."""
    arr = np.asarray(rgba, dtype=np.float32)
    if arr.ndim == 2:
        alpha = arr
    elif arr.ndim == 3 and arr.shape[2] in (2, 4):
        alpha = arr[:, :, -1]
    else:
        raise UsageError(f"The {what} has no alpha channel, so it cannot be its own matte; give a matte image.")
    return np.ascontiguousarray(np.clip(np.nan_to_num(alpha, nan=0.0), 0.0, 1.0), dtype=np.float32)


def fit_matte(matte: np.ndarray, hw: tuple[int, int], what: str = "matte") -> np.ndarray:
    """A matte resized (bilinear, antialiased) to the picture's size `hw` (height, width); one sentence when its
    aspect differs from the picture's by more than 1 %."""
    m = np.asarray(matte, dtype=np.float32)
    mh, mw = m.shape[:2]
    h, w = int(hw[0]), int(hw[1])
    if (mh, mw) == (h, w):
        return m
    if abs(mw / mh - w / h) > 0.01 * (w / h):
        raise UsageError(f"The {what} is {mw}×{mh}, the picture is {w}×{h}; give it the picture's aspect.")
    t = torch.from_numpy(np.ascontiguousarray(m))[None, None]
    t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return np.ascontiguousarray(t[0, 0].clamp(0, 1).numpy())


def feather_sigma(px: float) -> float:
    """The Gaussian sigma whose blurred hard edge ramps from 10 % to 90 % over `px` pixels: px / 2.563."""
    return float(px) / RAMP_PER_SIGMA


def feather(matte: np.ndarray, px: float) -> np.ndarray:
    """A matte softened by a Gaussian blur whose ramp across a hard edge is about `px` wide (10 % to 90 %; sigma =
    px / 2.563). The frame's edges are extended, so a matte that fills an edge still fills it; 0 leaves it as it is."""
    m = np.asarray(matte, dtype=np.float32)
    sigma = feather_sigma(px)
    if sigma < 0.25:  # under half a pixel of ramp: nothing to blur
        return m
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    t = torch.from_numpy(np.ascontiguousarray(m))[None, None]
    t = F.pad(t, (radius, radius, radius, radius), mode="replicate")
    t = F.conv2d(t, kernel.view(1, 1, 1, -1))
    t = F.conv2d(t, kernel.view(1, 1, -1, 1))
    return np.ascontiguousarray(t[0, 0].clamp(0, 1).numpy())


def matte_digest(path: str | os.PathLike, frame: int | None = None) -> str:
    """blake2b-128 of a matte file's bytes (a pattern's file for `frame`), as manifests record plates and styles."""
    file = matte_path(path, frame)
    if not file.is_file():
        where = f"Matte frame {frame} '{file}'" if is_pattern(path) else f"Matte '{file}'"
        raise UsageError(f"{where} does not exist.")
    return file_digest(file)


__all__ = ["alpha_matte", "feather", "feather_sigma", "fit_matte", "is_pattern", "matte_digest", "matte_path",
           "read_matte"]
