"""Review movies keep timecode true: a gap in the painted frames is held as a 'not painted' slate, a damaged frame
as a 'damaged' one, and a movie plate's rate (24000/1001) is the review's rate. Checked with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.movie import available_encoders, frame_timecode, review_rate, write_review_movie

runner = CliRunner()
W, H = 48, 32
CODEC = "prores" if available_encoders()["prores"] else "h264"
SUFFIX = ".mov" if CODEC == "prores" else ".mp4"


def _decoded(path: Path) -> tuple[list[float], list[float], Fraction, str | None]:
    """(seconds of each frame from its pts, mean level of each frame, the stream's rate, its timecode)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times, levels = [], []
        for f in c.decode(s):
            times.append(float(f.pts * f.time_base))
            levels.append(float(f.to_ndarray(format="rgb24").mean()) / 255)
        return times, levels, Fraction(s.average_rate), s.metadata.get("timecode")


def _project(tmp_path: Path, plate: str, frames: str) -> Path:
    write_image(tmp_path / "style.png", np.full((16, 16, 3), 0.5, np.float32))
    data = {"name": "rv010", "plate": plate, "frames": frames, "styles": ["style.png"],
            "look": {"iterations": 1, "size": 32, "seed": 1}, "review": {"codec": CODEC, "burn_in": False}}
    path = tmp_path / "rv010.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _paint(shot_file: Path, numbers: list[int]) -> None:
    """Stand-ins for painted frames: flat light grey EXRs where the renderer would write them."""
    shot = load_shot(shot_file)
    for n in numbers:
        out = shot.output_path(n)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_frame(out, Frame(np.full((H, W, 3), 0.6, np.float32)))


def _grey_plates_shot(tmp_path: Path, count: int, frames: str) -> Path:
    """`count` flat grey EXR plate frames from 1001 and a shot over `frames`."""
    (tmp_path / "plates").mkdir()
    for n in range(1001, 1001 + count):
        write_frame(tmp_path / f"plates/p.{n}.exr", Frame(np.full((H, W, 3), 0.3, np.float32)))
    return _project(tmp_path, "plates/p.####.exr", frames)


def test_review_with_a_gap_keeps_every_timecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shot_file = _grey_plates_shot(tmp_path, 6, "1001-1006")
    _paint(shot_file, [1001, 1002, 1004, 1005])  # 1003 is a gap, 1006 is not painted yet
    movie = tmp_path / f"r{SUFFIX}"
    res = runner.invoke(app, ["review", str(shot_file), "-o", str(movie)])
    assert res.exit_code == 0, res.output
    assert "6 frames (1001-1006) at 24 fps from the shot file" in res.output
    assert "frames 1003,1006 not painted, held as slates" in res.output.replace(", 1006", ",1006")
    times, levels, rate, timecode = _decoded(movie)
    assert len(times) == 6 and rate == 24
    assert times == pytest.approx([i / 24 for i in range(6)])  # frame 1004 is 3 frames after 1001, not 2
    assert timecode == frame_timecode(1001, 24) == "00:00:41:17"
    painted = [i for i, v in enumerate(levels) if v > 0.3]
    assert painted == [0, 1, 3, 4]  # the slates (index 2 = 1003, 5 = 1006) are dark
    assert all(levels[i] < 0.2 for i in (2, 5))

    # a truncated painted frame is held as 'damaged' and named, not a traceback
    damaged = load_shot(shot_file).output_path(1004)
    damaged.write_bytes(damaged.read_bytes()[:100])
    res = runner.invoke(app, ["review", str(shot_file), "-o", str(movie)])
    assert res.exit_code == 0, res.output
    assert "frame 1004 damaged" in res.output
    times, levels, _, _ = _decoded(movie)
    assert len(times) == 6 and levels[3] < 0.2


def test_review_of_a_movie_plate_runs_at_the_movie_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plate = tmp_path / "plate.mov"
    with av.open(str(plate), "w") as c:  # 23.976 fps, as film transfers are
        s = c.add_stream("mpeg4", rate=Fraction(24000, 1001))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(4):
            vf = av.VideoFrame.from_ndarray(np.full((H, W, 3), 40 * i, np.uint8), format="rgb24")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    shot_file = _project(tmp_path, "plate.mov", "1001-1004")
    _paint(shot_file, [1001, 1002, 1003, 1004])
    movie = tmp_path / f"r{SUFFIX}"
    res = runner.invoke(app, ["review", str(shot_file), "-o", str(movie)])
    assert res.exit_code == 0, res.output
    assert "at 23.976 fps (24000/1001) from the movie plate" in res.output
    times, _, rate, _ = _decoded(movie)
    assert rate == Fraction(24000, 1001) and len(times) == 4
    assert times == pytest.approx([i * 1001 / 24000 for i in range(4)])
    res = runner.invoke(app, ["review", str(shot_file), "-o", str(movie), "--fps", "25"])
    assert res.exit_code == 0 and "at 25 fps from --fps" in res.output
    assert _decoded(movie)[2] == 25


def test_review_rates_and_gaps_in_the_writer(tmp_path: Path) -> None:
    assert review_rate(23.976) == Fraction(24000, 1001) == review_rate(24000 / 1001)
    assert review_rate(29.97) == Fraction(30000, 1001) and review_rate(59.94) == Fraction(60000, 1001)
    assert review_rate(24.0) == 24 and review_rate(25) == 25 and review_rate(12.5) == Fraction(25, 2)
    grey = np.full((H, W, 3), 0.7, np.float32)
    out = write_review_movie([(11, grey), (14, grey)], tmp_path / f"g{SUFFIX}", codec=CODEC, span=(10, 15))
    times, levels, _, timecode = _decoded(out)
    assert len(times) == 6 and timecode == frame_timecode(10, 24)
    assert [v > 0.3 for v in levels] == [False, True, False, False, True, False]
    with pytest.raises(UsageError, match="frames must rise"):
        write_review_movie([(3, grey), (2, grey)], tmp_path / f"x{SUFFIX}", codec=CODEC)
    with pytest.raises(UsageError, match="none is painted"):
        write_review_movie([(1, None), (2, "damaged")], tmp_path / f"y{SUFFIX}", codec=CODEC)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"g{SUFFIX}"]


def test_review_of_a_shot_on_twos_holds_each_painting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shot_file = _grey_plates_shot(tmp_path, 5, "1001-1005x2")
    _paint(shot_file, [1001, 1003])
    res = runner.invoke(app, ["review", str(shot_file), "-o", str(tmp_path / f"r{SUFFIX}")])
    assert res.exit_code == 0, res.output
    assert "frame 1005 not painted" in res.output
    times, levels, _, _ = _decoded(tmp_path / f"r{SUFFIX}")
    assert len(times) == 5 and [v > 0.3 for v in levels] == [True, True, True, True, False]
