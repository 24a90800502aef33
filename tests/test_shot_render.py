"""Shot rendering end to end on a synthetic 12-frame half-float RGBA EXR plate: resume after SIGKILL, look
versions, dissolve, bad input, full disk, previous-frame starts, status and the review movie."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.frames import Frame, read_frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.manifest import read_manifest
from impasto.shot.painter import Painted, Painter
from impasto.shot.render import ShotRenderer, frame_opens
from impasto.shot.loop import render_frames

runner = CliRunner()
# One thread: on a busy shared CPU, several intra-op threads on 32 px frames spend their time waiting on each other.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FRAMES = list(range(1001, 1013))
W, H = 64, 48


def _plate(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A moving diagonal gradient with a soft disc, scene-linear 0-0.9, and an alpha ramp (premultiplied)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    t = (n - 1001) * 2.0
    r = 0.5 + 0.4 * np.sin((x + t) / 9.0)
    g = 0.45 + 0.35 * np.cos((y - t) / 7.0)
    b = 0.3 + 0.6 * (np.hypot(x - 20 - t, y - 24) < 12)
    rgb = np.stack([r, g, b], -1).astype(np.float32) * 0.9
    alpha = np.clip(x / (W - 1) * 1.5, 0.0, 1.0).astype(np.float32)
    return rgb * alpha[..., None], alpha


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Renders here run on one torch thread (see conftest)."""


@pytest.fixture(scope="session")
def plate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plates")
    for n in FRAMES:
        rgb, alpha = _plate(n)
        write_frame(folder / f"cs010_plate.{n}.exr", Frame(rgb, alpha))
    return folder


@pytest.fixture()
def project(tmp_path: Path, plate_dir: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(plate_dir, tmp_path / "plates")
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    return tmp_path


def _shot(project: Path, name: str = "cs010", frames: str = "1001-1012", iterations: int = 2, **tables: dict) -> Path:
    """A shot file with an inline look: size 48, a few iterations, painted at half size (32 px)."""
    data = {
        "name": name, "plate": "plates/cs010_plate.####.exr", "frames": frames, "styles": ["style.png"],
        "look": {"iterations": iterations, "size": 48, "seed": 7, "u": 4.0},
        "render": {"scale": 0.5, "device": "cpu"},
    }
    for key, value in tables.items():
        data[key] = {**data.get(key, {}), **value}
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _render(*args: str) -> object:
    return runner.invoke(app, ["render", *args])


def _entries(shot_file: Path) -> dict[int, dict]:
    shot = load_shot(shot_file)
    return {n: e.model_dump() for n, e in read_manifest(shot.manifest_path()).frames.items()}


def test_sigkill_then_resume_renders_only_the_missing_frames(project: Path) -> None:
    shot_file = _shot(project)
    shot = load_shot(shot_file)
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "render", str(shot_file)], cwd=project, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            m = read_manifest(shot.manifest_path())
            if len(m.done()) >= 3:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()  # killed, not finished
    before = _entries(shot_file)
    assert 3 <= len(before) < len(FRAMES)
    assert all(e["status"] == "done" for e in before.values())

    res = _render(str(shot_file))
    assert res.exit_code == 0, res.output
    after = _entries(shot_file)
    assert sorted(after) == FRAMES
    for n, e in before.items():
        assert after[n] == e  # untouched: not rendered again
    assert all(after[n]["pid"] == os.getpid() for n in FRAMES if n not in before)
    assert f"rendering {len(FRAMES) - len(before)} of {len(FRAMES)} frames" in res.output

    # every file opens, keeps the plate's frame numbers, size, half floats and alpha
    names = sorted(p.name for p in shot.output_folder().iterdir() if not p.name.startswith("."))
    assert names == sorted([f"cs010_paint_v001.{n}.exr" for n in FRAMES] + ["cs010_paint_v001.manifest.json"])
    for n in FRAMES:
        out = shot.output_path(n)
        assert frame_opens(out, (W, H))
        frame = read_frame(out)
        assert frame.spec.pixel_format == "half" and frame.alpha is not None
        np.testing.assert_allclose(frame.alpha, _plate(n)[1], atol=1e-3)
        assert np.isfinite(frame.rgb).all()

    res = _render(str(shot_file))
    assert res.exit_code == 0 and "all 12 frames are done" in res.output

    # a changed plate frame is re-rendered, alone
    rgb, alpha = _plate(1005)
    write_frame(project / "plates/cs010_plate.1005.exr", Frame(rgb * 0.5, alpha))
    with ShotRenderer(load_shot(shot_file), device="cpu") as r:
        plan = r.plan()
    assert plan.todo == [1005] and plan.reasons[1005] == "plate changed"

    res = runner.invoke(app, ["status", str(shot_file)])
    assert res.exit_code == 0, res.output
    assert "done 12: 1001-1012" in " ".join(res.output.split())
    assert "flicker" in res.output and "11 consecutive frame pairs" in res.output

    res = runner.invoke(app, ["review", str(shot_file), "-o", str(project / "cs010_v001.mov")])
    assert res.exit_code == 0, res.output
    import av

    with av.open(str(project / "cs010_v001.mov")) as movie:
        assert sum(1 for _ in movie.decode(video=0)) == len(FRAMES)


def test_look_change_refuses_then_version_up_renders_a_new_version(project: Path) -> None:
    shot_file = _shot(project, frames="1001-1003")
    assert _render(str(shot_file)).exit_code == 0
    shot = load_shot(shot_file)
    v1 = {n: shot.output_path(n).read_bytes() for n in (1001, 1002, 1003)}
    v1_manifest = shot.manifest_path().read_text()

    text = shot_file.read_text().replace("u = 4.0", "u = 5.0")
    shot_file.write_text(text)
    res = _render(str(shot_file))
    assert res.exit_code == 2
    assert "different look" in res.output and "impasto shot version-up" in res.output and "--force" in res.output
    assert {n: shot.output_path(n).read_bytes() for n in v1} == v1

    assert runner.invoke(app, ["shot", "version-up", str(shot_file)]).exit_code == 0
    res = _render(str(shot_file))
    assert res.exit_code == 0, res.output
    new = load_shot(shot_file)
    assert new.output.version == 2
    assert all(frame_opens(new.output_path(n)) for n in v1)
    assert {e["status"] for e in _entries(shot_file).values()} == {"done"} and len(_entries(shot_file)) == 3
    # the old version stays exactly as it was
    assert {n: shot.output_path(n).read_bytes() for n in v1} == v1
    assert shot.manifest_path().read_text() == v1_manifest

    # --force re-renders the version in place after another change
    old_hash = _entries(shot_file)[1001]["look_hash"]
    shot_file.write_text(shot_file.read_text().replace("u = 5.0", "u = 3.0"))
    assert _render(str(shot_file), "--frames", "1001-1002").exit_code == 2
    res = _render(str(shot_file), "--frames", "1001-1002", "--force")
    assert res.exit_code == 0, res.output
    entries = _entries(shot_file)
    assert entries[1001]["look_hash"] != old_hash and entries[1003]["look_hash"] == old_hash
    assert "old look" in runner.invoke(app, ["status", str(shot_file), "--no-flicker"]).output


def test_dissolve_mixes_painting_and_plate_in_linear_light(project: Path) -> None:
    plain = _shot(project, name="plain", frames="1001-1003")
    mixed = _shot(project, name="mixed", frames="1001-1003", dissolve={"head": "1001-1003", "curve": "linear"})
    assert _render(str(plain)).exit_code == 0
    assert _render(str(mixed)).exit_code == 0
    p, m = load_shot(plain), load_shot(mixed)
    tol = {"atol": 2e-3, "rtol": 2e-3}  # half-float storage
    for n, w in ((1001, 0.0), (1002, 0.5), (1003, 1.0)):
        painted = read_frame(p.output_path(n)).rgb
        plate = read_frame(project / f"plates/cs010_plate.{n}.exr").rgb
        np.testing.assert_allclose(read_frame(m.output_path(n)).rgb, w * painted + (1 - w) * plate, **tol)
    assert _entries(mixed)[1002]["dissolve"] == 0.5
    assert not np.allclose(read_frame(p.output_path(1001)).rgb, read_frame(project / "plates/cs010_plate.1001.exr").rgb, atol=1e-2)


def test_missing_plate_frames_are_recorded_the_rest_painted_and_the_run_ends_non_zero(project: Path) -> None:
    for n in (1002, 1004, 1005):
        (project / f"plates/cs010_plate.{n}.exr").unlink()
    shot_file = _shot(project, frames="1001-1005", iterations=1)
    res = _render(str(shot_file))
    assert res.exit_code == 1, res.output
    assert "plate frames 1002,1004-1005 are missing from 'plates/cs010_plate.####.exr' (3 of 5); painting the others" in res.output
    assert "Plate frames 1002,1004-1005 are missing" in res.output and "were not painted" in res.output
    assert "Traceback" not in res.output
    entries = _entries(shot_file)
    assert {n: e["status"] for n, e in entries.items()} == {1001: "done", 1002: "missing", 1003: "done", 1004: "missing", 1005: "missing"}
    assert "cs010_plate.1002.exr" in entries[1002]["error"]
    shot = load_shot(shot_file)
    assert frame_opens(shot.output_path(1003)) and not shot.output_path(1002).exists()
    status = runner.invoke(app, ["status", str(shot_file), "--no-flicker"])
    assert status.exit_code == 0, status.output
    flat = " ".join(status.output.split())
    assert "plate missing 3: 1002,1004-1005" in flat and "to render 0" in flat
    # the plate frames arrive: the next render paints exactly those
    for n in (1002, 1004, 1005):
        rgb, alpha = _plate(n)
        write_frame(project / f"plates/cs010_plate.{n}.exr", Frame(rgb, alpha))
    res = _render(str(shot_file))
    assert res.exit_code == 0, res.output
    assert "rendering 3 of 5 frames (plate was missing: 1002,1004-1005)" in res.output
    assert {e["status"] for e in _entries(shot_file).values()} == {"done"}


def test_an_output_folder_that_cannot_be_made_is_one_sentence_before_any_frame(project: Path) -> None:
    shot_file = _shot(project, frames="1001-1002")
    (project / "render").write_text("a file where the output folder should be")
    res = _render(str(shot_file))
    assert res.exit_code == 2, res.output
    assert "Output folder" in res.output and "is a file, not a folder" in res.output and "Traceback" not in res.output
    assert "frame 1001" not in res.output and "rendering" not in res.output


def test_mixed_resolutions_stop_before_painting(project: Path) -> None:
    write_frame(project / "plates/cs010_plate.1003.exr", Frame(np.zeros((48, 80, 3), np.float32)))
    res = _render(str(_shot(project)))
    assert res.exit_code == 2 and "Plate frame 1003 is 80×48 but frame 1001 is 64×48" in res.output


def test_unknown_colour_space_is_one_sentence(project: Path) -> None:
    res = _render(str(_shot(project, colour={"input_space": "Linear Rec.709 (sRBG)"})))
    assert res.exit_code == 2
    assert "Colour space 'Linear Rec.709 (sRBG)' is not in the OCIO config" in res.output
    assert "Traceback" not in res.output


def test_truncated_exr_fails_its_frame_and_the_run_goes_on(project: Path) -> None:
    bad = project / "plates/cs010_plate.1002.exr"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    shot_file = _shot(project, frames="1001-1003")
    res = _render(str(shot_file))
    assert res.exit_code == 1
    assert "1 frame failed: 1002" in res.output
    entries = _entries(shot_file)
    assert entries[1001]["status"] == "done" and entries[1003]["status"] == "done"
    assert entries[1002]["status"] == "failed" and "1002" in entries[1002]["error"]
    shot = load_shot(shot_file)
    assert not shot.output_path(1002).exists()
    assert [p.name for p in shot.output_folder().iterdir() if ".tmp" in p.name] == []
    res = runner.invoke(app, ["status", str(shot_file), "--no-flicker"])
    assert "failed 1: 1002" in " ".join(res.output.split())


def test_full_disk_stops_with_one_sentence_and_keeps_finished_frames(project: Path) -> None:
    import resource

    shot_file = _shot(project, frames="1001-1003")
    assert _render(str(shot_file), "--frames", "1001").exit_code == 0
    shot = load_shot(shot_file)
    kept = shot.output_path(1001).read_bytes()
    # Files beyond 4 kB fail as on a full disk (EFBIG rather than ENOSPC; Python ignores SIGXFSZ).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        res = _render(str(shot_file))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert res.exit_code == 1, res.output
    assert "is full; finished frames are kept" in res.output and "Traceback" not in res.output
    assert shot.output_path(1001).read_bytes() == kept
    assert not shot.output_path(1002).exists() and not shot.output_path(1003).exists()
    assert [p.name for p in shot.output_folder().iterdir() if ".tmp" in p.name or "probe" in p.name] == []
    assert sorted(_entries(shot_file)) == [1001]


def test_from_previous_starts_each_frame_from_the_last_painting(project: Path) -> None:
    shot_file = _shot(project, frames="1001-1004")
    assert _render(str(shot_file), "--frames", "1001-1002", "--from-previous").exit_code == 0
    # a new run (as after a kill) picks the previous frame up from disk
    assert _render(str(shot_file), "--frames", "1003-1004", "--from-previous").exit_code == 0
    inits = {n: e["init"] for n, e in _entries(shot_file).items()}
    assert inits == {1001: "content", 1002: "previous:1001", 1003: "previous:1002", 1004: "previous:1003"}
    # starting from the plate instead is another look: refused without --force
    res = _render(str(shot_file))
    assert res.exit_code == 2 and "different look" in res.output


def test_estimate_renders_nothing(project: Path) -> None:
    shot_file = _shot(project, frames="1001-1003")
    res = _render(str(shot_file), "--estimate", "--probe-iterations", "2")
    assert res.exit_code == 0, res.output
    assert "frames per hour" in res.output and "3 frames left" in res.output and "32×24" in res.output
    assert "paints at render.scale 0.5 of the plate (32 px long edge), not at the look's size 48" in " ".join(res.output.split())
    assert not load_shot(shot_file).output_folder().exists()


class _PlatePainter:
    """A `Painter` that paints nothing: the display picture back at the paint size."""

    look_tag = "-plate"

    def __init__(self) -> None:
        self.closed = False
        self.edges: list[int] = []

    def paint(self, shown, edge, *, init="content", iterations=None, on_iteration=None):
        from impasto.io.tensors import fit_size
        from impasto.shot.post import upscale

        self.edges.append(edge)
        h, w = fit_size(*shown.shape[:2], edge)
        if on_iteration is not None:
            on_iteration(1, 1)
        return Painted(upscale(shown, size=(w, h)), "test")

    def close(self) -> None:
        self.closed = True


def test_any_painter_plugs_into_the_shot_pipeline(project: Path) -> None:
    shot_file = _shot(project, frames="1001-1002")
    painter = _PlatePainter()
    assert isinstance(painter, Painter)
    report = render_frames(load_shot(shot_file), painter=painter)
    assert report.rendered == [1001, 1002] and painter.closed and painter.edges == [32, 32]
    entries = _entries(shot_file)
    assert all(e["device"] == "test" and e["look_hash"].endswith("-plate") for e in entries.values())
    shot = load_shot(shot_file)
    assert read_frame(shot.output_path(1001)).rgb.shape == (H, W, 3)
    # optimised frames are another look than this painter's: the version refuses to mix them
    with pytest.raises(UsageError, match="different look"):
        ShotRenderer(shot, device="cpu").plan()
