"""`impasto status` reports what is on disk: a damaged painted frame is listed as damaged (not done) and flicker
skips it with a note; flicker leaves out dissolve frames and black plate frames and names the worst pairs. A
movie plate's manifest entries record the movie frame each shot frame was painted from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.manifest import read_manifest

runner = CliRunner()
W, H = 48, 32
FRAMES = list(range(1001, 1009))
BLACK_FRAME, DAMAGED_FRAME = 1008, 1005


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _picture(n: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    t = (n - 1001) * 2.0
    return np.stack([0.5 + 0.4 * np.sin((x + t) / 7.0), 0.4 + 0.3 * np.cos((y - t) / 5.0), 0.3 + 0 * x], -1).astype(np.float32)


def _shot_file(root: Path, plate: str, frames: str, **extra: dict) -> Path:
    data = {"name": "st010", "plate": plate, "frames": frames, "styles": ["style.png"],
            "look": {"iterations": 1, "size": 32, "seed": 3}, "render": {"scale": 0.67, "device": "cpu"}, **extra}
    path = root / "st010.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    for n in FRAMES:
        rgb = np.zeros((H, W, 3), np.float32) if n == BLACK_FRAME else _picture(n)
        write_frame(tmp_path / f"plates/st010_plate.{n}.exr", Frame(rgb))
    write_image(tmp_path / "style.png", style_rgb[:48, :48])
    return tmp_path


def test_damaged_frames_are_listed_as_such_and_flicker_measures_only_what_it_should(project: Path) -> None:
    # frames 1001-1002 dissolve in from the plate (weights 0 and 0.5), 1008's plate is black
    shot_file = _shot_file(project, "plates/st010_plate.####.exr", "1001-1008", dissolve={"head": "1001-1003"})
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0, res.output
    shot = load_shot(shot_file)
    entries = read_manifest(shot.manifest_path()).frames
    assert all(e.bytes == shot.output_path(n).stat().st_size for n, e in entries.items())
    assert all(e.source_frame is None for e in entries.values())  # an image sequence

    bad = shot.output_path(DAMAGED_FRAME)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated behind impasto's back

    res = runner.invoke(app, ["status", str(shot_file), "--no-flicker"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "done 7: 1001-1004,1006-1008" in flat and "damaged 1: 1005" in flat
    assert f"1005 damaged: truncated: {bad.stat().st_size} bytes" in flat

    res = runner.invoke(app, ["status", str(shot_file)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    flat = " ".join(res.output.split())
    # pairs measured: 1003-1004 and 1006-1007 (dissolve 1001-1002, damaged 1005 and black plate 1008 left out)
    assert "2 consecutive frame pairs" in flat
    assert "not measured dissolve 1001-1002; black plate 1008; damaged 1005" in flat
    assert "worst pairs 1003-1004 (" in flat or "worst pairs 1006-1007 (" in flat

    data = json.loads(runner.invoke(app, ["status", str(shot_file), "--json"]).output)
    assert data["damaged"] == {"1005": data["damaged"]["1005"]} and data["done"] == "1001-1004,1006-1008"
    assert data["flicker"]["pairs"] == 2 and {tuple(w["frames"]) for w in data["flicker"]["worst"]} == {(1003, 1004), (1006, 1007)}
    assert data["flicker"]["left_out"] == {"dissolve": "1001-1002", "black plate": "1008", "damaged": "1005"}

    # render paints the damaged frame again, and only it
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0 and "rendering 1 of 8 frames (file missing or damaged: 1005)" in res.output


def test_a_frame_that_does_not_open_is_damaged_even_without_a_recorded_size(project: Path) -> None:
    shot_file = _shot_file(project, "plates/st010_plate.####.exr", "1001-1002")
    assert runner.invoke(app, ["render", str(shot_file)]).exit_code == 0
    shot = load_shot(shot_file)
    # a manifest from before sizes were recorded, and a frame overwritten with something that is not an image
    text = json.loads(shot.manifest_path().read_text())
    for e in text["frames"].values():
        e.pop("bytes")
    shot.manifest_path().write_text(json.dumps(text))
    shot.output_path(1002).write_bytes(b"not an exr")
    res = runner.invoke(app, ["status", str(shot_file)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "done 1: 1001" in flat and "damaged 1: 1002" in flat and "header cannot be read" in flat
    assert "flicker" not in flat  # one good frame: nothing to compare


def test_movie_plate_entries_record_the_movie_frame(project: Path) -> None:
    av = pytest.importorskip("av")
    movie = project / "plates/clip.mov"
    with av.open(str(movie), "w") as out:
        stream = out.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuvj444p"
        for n in range(4):
            frame = av.VideoFrame.from_ndarray((_picture(1001 + n) * 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    shot_file = _shot_file(project, "plates/clip.mov", "1001-1002")
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0, res.output
    entries = read_manifest(load_shot(shot_file).manifest_path()).frames
    assert {n: e.source_frame for n, e in entries.items()} == {1001: 0, 1002: 1}
    assert os.path.getsize(load_shot(shot_file).output_path(1001)) == entries[1001].bytes
