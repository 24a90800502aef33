"""Media the tests make for themselves: movies written with PyAV, painted versions of a shot written directly, and
the bench scripts as modules."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import ModuleType

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


def write_painted_version(shot_file: Path, version: int, pictures: dict[int, np.ndarray],
                          boil: float | None = None) -> None:
    """Stand-ins for painted frames of `version` and their manifest entries, as the renderer leaves them."""
    from impasto.io.frames import Frame, write_frame
    from impasto.shot.config import load_shot
    from impasto.shot.identity import look_hash
    from impasto.shot.manifest import FrameEntry, update_manifest

    shot = load_shot(shot_file)
    current = look_hash(shot)
    extra = {} if boil is None else {"boil": boil}
    entries = {}
    for n, rgb in pictures.items():
        out = shot.output_path(n, version)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_frame(out, Frame(rgb.astype(np.float32)))
        entries[n] = FrameEntry(status="done", output=out.name, bytes=out.stat().st_size, look_hash=current,
                                seconds=1.0, **extra)
    update_manifest(shot.manifest_path(version), shot.name, version, entries)


BENCH = Path(__file__).resolve().parent.parent / "bench"


@contextmanager
def bench_module(name: str) -> Iterator[ModuleType]:
    """A script of bench/ imported as a module (bench/ is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))



def render_in_processes(shot_file: Path, count: int = 2) -> str:
    """`impasto render SHOT` in `count` processes at once (one torch thread each), as a user starts two renders of
    one shot; their standard error together, once every one has exited 0."""
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "impasto", "render", str(shot_file)], cwd=shot_file.parent,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(count)]
    outs = [p.communicate(timeout=600)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return " ".join(outs)
