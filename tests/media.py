"""Media the tests make for themselves: movies written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_movie(path: Path, levels: list[float], codec: str = "mpeg4", pix_fmt: str = "yuv420p",
                rate: Fraction = Fraction(24)) -> Path:
    """A 64×48 movie whose frame i is flat grey at levels[i] (mpeg4 at the finest quantiser, so greys come back
    within 0.02), at `rate` frames per second."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
        s.options = {"qscale": "1"} if codec == "mpeg4" else {}
        for i, v in enumerate(levels):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), round(v * 255), np.uint8), format="rgb24")
            f.pts, f.time_base = i, 1 / Fraction(rate)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return Path(path)
