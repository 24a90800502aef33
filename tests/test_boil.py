"""Boil in shot rendering (issue 16 parts 2, 3, 7), forward between keyframes (two-sided: tests/test_two_sided.py):
boil 0 is today's render bit for bit, boil > 0 paints keyframes first and then each chunk from the warped previous
frame, caches the plate's flow, resumes inside a chunk, asks
for a version-up when the boil changes, is ignored (with a warning) by a fast model, and spreads over Ray."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.images import write_image
from impasto.io.frames import read_frame
from impasto.shot.config import load_shot, with_overrides
from impasto.shot.identity import look_hash
from impasto.shot.manifest import read_manifest
from impasto.shot.render import ShotRenderer
from impasto.shot.loop import render_frames
from impasto.shot.temporal import painted_path

runner = CliRunner()
W, H = 64, 48
FRAMES = list(range(1001, 1008))  # 7 frames, chunk 3: keyframes 1001, 1004, 1007
PAN = 2  # px per frame


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Renders here run on one torch thread (see conftest)."""


@pytest.fixture(scope="session")
def plate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A textured scikit-image sample (the astronaut) panning PAN px per frame, as sRGB PNGs written by OpenImageIO."""
    from skimage import data, transform

    big = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True).astype(np.float32)
    folder = tmp_path_factory.mktemp("boilplates")
    for i, n in enumerate(FRAMES):
        x = 10 + PAN * i
        write_image(folder / f"pan.{n}.png", big[40:40 + H, x:x + W])
    return folder


@pytest.fixture()
def project(tmp_path: Path, plate_dir: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(plate_dir, tmp_path / "plates")
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    return tmp_path


def _shot(project: Path, name: str = "pan", folder: str = "render", temporal: dict | None = None,
          iterations: int = 2) -> Path:
    data = {
        "name": name, "plate": "plates/pan.####.png", "frames": f"{FRAMES[0]}-{FRAMES[-1]}", "styles": ["style.png"],
        "look": {"iterations": iterations, "size": 48, "seed": 5, "u": 4.0},
        "render": {"scale": 0.75, "device": "cpu"}, "output": {"folder": folder},
    }
    if temporal is not None:
        data["temporal"] = temporal
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_boil_0_is_todays_render_bit_for_bit(project: Path) -> None:
    plain = load_shot(_shot(project, "pan", "plain"))
    zero = load_shot(_shot(project, "pan", "zero", temporal={"boil": 0.0, "chunk": 3}))
    assert look_hash(zero) == look_hash(plain)
    frames = FRAMES[:2]
    assert render_frames(plain, frames).ok and render_frames(zero, frames).ok
    for n in frames:
        a, b = read_frame(plain.output_path(n)).rgb, read_frame(zero.output_path(n)).rgb
        assert np.array_equal(a, b)
        e = read_manifest(zero.manifest_path()).frames[n]
        assert e.look_hash == read_manifest(plain.manifest_path()).frames[n].look_hash
        assert e.boil == 0 and e.start is None and not e.keyframe
    assert not (zero.output_folder() / ".painted").exists() and not zero.flow_folder().exists()


def test_boil_1_paints_keyframes_first_then_warped_chunks(project: Path) -> None:
    shot_file = _shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 1, "between": "forward"})
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0, res.output
    assert "at boil 1: keyframes first, then chunks of 3" in " ".join(res.output.split())
    shot = load_shot(shot_file)
    m = read_manifest(shot.manifest_path()).frames
    assert sorted(m.keys()) == FRAMES and all(e.status == "done" for e in m.values())
    assert [n for n in FRAMES if m[n].keyframe] == [1001, 1004, 1007]
    # chained keyframes: the first from the plate, each next one from the one before carried along the motion
    assert m[1001].start == "content" and m[1004].start == "warped:1001" and m[1007].start == "warped:1004"
    assert m[1002].start == "warped:1001" and m[1003].start == "warped:1002" and m[1006].start == "warped:1005"
    # pull 1: the last frame before each next keyframe is also pulled toward it
    assert m[1003].pulled_to == 1004 and m[1006].pulled_to == 1007 and m[1002].pulled_to is None
    assert all(e.boil == 1.0 and e.chunk == 3 for e in m.values())
    assert all(m[k].finished < m[n].finished for k in (1001, 1004, 1007) for n in (1002, 1003, 1005, 1006))
    assert m[1001].look_hash.endswith("+boil1c3p1iauto")
    assert all(painted_path(shot, n).is_file() for n in FRAMES)

    # The plate's motion is cached: a re-render of the look in a new version reads every flow back.
    flows = sorted(p.name for p in shot.flow_folder().iterdir())
    assert len(flows) == 6  # into 1002, 1003, 1005, 1006, and into 1004 and 1007 for the pulls
    data = shot.model_copy(update={"output": shot.output.model_copy(update={"version": 2})})
    data._root, data._source = shot.root, shot.source
    with ShotRenderer(data) as r:
        assert render_frames(data, [1001, 1002, 1003], renderer=r).ok
        assert r.boil.flows.hits == 2 and r.boil.flows.misses == 0
    assert sorted(p.name for p in shot.flow_folder().iterdir()) == flows


def test_warped_start_is_steadier_than_boil_0(project: Path) -> None:
    """Not a quality benchmark: the temporal term pulls frame 1002 toward the warped 1001 (more than boil 0 does)."""
    from impasto.motion import FlowCache
    from impasto.motion.ewarp import warp_error

    errors = {}
    for boil in (0.0, 1.0):
        shot = load_shot(_shot(project, "pan", f"b{boil:g}", temporal={"boil": boil, "chunk": 3}, iterations=3))
        assert render_frames(shot, [1001, 1002]).ok
        with ShotRenderer(shot) as r:
            size = r.paint_size(W, H)
            pics = [r.painted(n, size) if boil else _display(r, shot, n, size) for n in (1001, 1002)]
            motion = FlowCache(project / "flows").get_or_compute(
                r.input_hash(1001), r.input_hash(1002), size, lambda: r.display(r.read_plate(1001)),
                lambda: r.display(r.read_plate(1002)))
        errors[boil] = warp_error(pics[0], pics[1], motion)
    assert errors[1.0] < errors[0.0]


def _display(r: ShotRenderer, shot, n: int, size: tuple[int, int]) -> np.ndarray:
    from impasto.motion.flow import fit

    return fit(np.clip(r.display(read_frame(shot.output_path(n))), 0, 1), size)


def test_resume_inside_a_chunk_starts_from_the_saved_picture(project: Path) -> None:
    shot = load_shot(_shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 0, "between": "forward"}))
    calls = []

    def stop_at_1003(event) -> None:
        calls.append((event.kind, event.frame))
        if event.kind == "iteration" and event.frame == 1003:
            raise KeyboardInterrupt  # killed while painting 1003

    with pytest.raises(KeyboardInterrupt):
        render_frames(shot, [1001, 1002, 1003], progress=stop_at_1003)
    m = read_manifest(shot.manifest_path()).frames
    assert sorted(m) == [1001, 1002]  # 1003 left no entry, no file
    assert not shot.output_path(1003).exists() and not painted_path(shot, 1003).exists()
    saved = np.load(painted_path(shot, 1002))

    report = render_frames(shot, [1001, 1002, 1003])
    assert report.rendered == [1003] and sorted(report.skipped) == [1001, 1002]
    m = read_manifest(shot.manifest_path()).frames
    assert m[1003].start == "warped:1002"
    assert np.array_equal(np.load(painted_path(shot, 1002)), saved)

    # A frame whose previous frame is not painted starts from the plate, and says why.
    report = render_frames(shot, [1006])
    assert report.ok
    assert read_manifest(shot.manifest_path()).frames[1006].start == "content (1005 not painted)"


def test_resumed_frame_matches_an_unbroken_render(project: Path) -> None:
    one = load_shot(_shot(project, "pan", "one", temporal={"boil": 1.0, "chunk": 3, "pull": 0, "between": "forward"}))
    two = load_shot(_shot(project, "pan", "two", temporal={"boil": 1.0, "chunk": 3, "pull": 0, "between": "forward"}))
    assert render_frames(one, [1001, 1002, 1003]).ok
    assert render_frames(two, [1001, 1002]).ok  # a separate run (another process, say) paints the rest
    with ShotRenderer(two) as r:
        assert render_frames(two, [1003], renderer=r).ok
    assert np.array_equal(read_frame(one.output_path(1003)).rgb, read_frame(two.output_path(1003)).rgb)


def test_changing_the_boil_asks_for_a_version_up(project: Path) -> None:
    shot_file = _shot(project)
    assert render_frames(load_shot(shot_file), [1001]).ok
    res = runner.invoke(app, ["render", str(shot_file), "--frames", "1001", "--boil", "0.5"])
    assert res.exit_code != 0
    text = " ".join(res.output.split())
    assert "painted with a different look" in text and "version-up" in text
    assert look_hash(with_overrides(load_shot(shot_file), boil=0.5)).endswith("+boil0.5c12tsiauto")


def test_boil_and_from_previous_are_refused_together(project: Path) -> None:
    shot_file = _shot(project, temporal={"boil": 1.0})
    res = runner.invoke(app, ["render", str(shot_file), "--from-previous"])
    assert res.exit_code != 0 and "drop from_previous" in " ".join(res.output.split())
    assert "Traceback" not in res.output
    path = project / "both.toml"
    text = (project / "pan.toml").read_text().replace('device = "cpu"', 'device = "cpu"\nfrom_previous = true')
    path.write_text(text)
    with pytest.raises(UsageError, match="from_previous"):
        load_shot(path)


def test_shot_init_writes_boil_and_chunk(project: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "pan2", "--plate", "plates/pan.####.png", "--style", "style.png",
                              "--boil", "0.5", "--chunk", "6"])
    assert res.exit_code == 0, res.output
    shot = load_shot(project / "pan2.toml")
    assert shot.temporal.boil == 0.5 and shot.temporal.chunk == 6
    res = runner.invoke(app, ["shot", "init", "pan3", "--plate", "plates/pan.####.png", "--style", "style.png"])
    assert res.exit_code == 0 and "temporal" not in (project / "pan3.toml").read_text()


def test_render_help_tells_boil() -> None:
    res = runner.invoke(app, ["render", "--help"], env={"COLUMNS": "200"})
    assert "--boil" in res.output and "temporal.boil" in res.output


def test_fast_model_ignores_boil_with_a_warning(project: Path) -> None:
    from impasto.shot.painter import Painted

    class Flat:
        look_tag = "-fake"

        def paint(self, shown, edge, *, init="content", iterations=None, on_iteration=None, guides=None):
            assert guides is None and isinstance(init, str)
            return Painted(np.full((36, 48, 3), 0.5, np.float32), "cpu")

        def close(self) -> None:
            pass

    shot = load_shot(_shot(project, temporal={"boil": 1.0, "chunk": 3}))
    with ShotRenderer(shot, painter=Flat()) as r:
        assert r.ignored_boil == 1.0 and r.boil is None and "+boil" not in r.look_hash
        assert render_frames(r.shot, [1001, 1002], renderer=r).ok


def test_fast_flag_with_boil_warns(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import impasto.commands.render as cmd

    seen = {}

    def fake(shot, model, *, device=None, from_previous=None):
        seen["boil"] = shot.temporal.boil
        raise UsageError("stop here.")

    monkeypatch.setattr(cmd, "FastShotRenderer", fake)
    shot_file = _shot(project, temporal={"boil": 1.0})
    res = runner.invoke(app, ["render", str(shot_file), "--fast", str(project / "model.pt")])
    text = " ".join(res.output.split())
    # The command only warns: the frame pipeline is what paints a fast model's frames at boil 0 (ignored_boil).
    assert "the fast model ignores boil" in text and seen["boil"] == 1.0


@pytest.mark.skipif(os.environ.get("IMPASTO_SKIP_RAY") == "1", reason="Ray tests skipped")
def test_boil_on_ray_paints_keyframes_first(project: Path) -> None:
    ray = pytest.importorskip("ray")
    from impasto.cluster import ClusterOptions, render_on_cluster

    shot = load_shot(_shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 1, "between": "forward"}))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        report = render_on_cluster(shot, options=ClusterOptions(workers=2, max_retries=0))
    finally:
        ray.shutdown()
    assert sorted(report.rendered) == FRAMES and not report.failed
    m = read_manifest(shot.manifest_path()).frames
    for chunk, keys in (((1002, 1003), (1001, 1004)), ((1005, 1006), (1004, 1007))):
        assert all(m[k].finished < m[n].finished for k in keys for n in chunk)
    assert m[1002].start == "warped:1001" and m[1003].start == "warped:1002" and m[1003].pulled_to == 1004
    assert m[1005].pid == m[1006].pid  # a chunk's frames are one task, in order


@pytest.mark.parametrize("look", [{"levels": 2}, {"tile": 32, "tile_overlap": 8}], ids=["coarse-to-fine", "tiles"])
def test_boil_with_post_dissolve_scale_levels_and_tiles(project: Path, look: dict) -> None:
    path = _shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 1, "between": "forward"})
    import tomllib

    data = tomllib.loads(path.read_text())
    data["look"].update(look)
    data["post"] = {"denoise": "bilateral", "strength": 0.5}
    data["dissolve"] = {"head": "1001-1002"}
    path.write_text(tomli_w.dumps(data))
    shot = load_shot(path)
    report = render_frames(shot, [1001, 1002, 1003, 1004])
    assert report.ok, report.failed
    m = read_manifest(shot.manifest_path()).frames
    assert m[1003].start == "warped:1002" and m[1003].pulled_to == 1004
    assert read_frame(shot.output_path(1003)).rgb.shape == (H, W, 3)


def test_two_renders_split_a_boil_shot(project: Path) -> None:
    from tests.media import render_in_processes

    shot_file = _shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 1, "between": "forward"})
    rendered = render_in_processes(shot_file)
    m = read_manifest(load_shot(shot_file).manifest_path()).frames
    assert sorted(m) == FRAMES and all(e.status == "done" for e in m.values())
    assert {m[n].start for n in (1002, 1005)} == {"warped:1001", "warped:1004"}
    assert m[1003].start == "warped:1002" and m[1006].start == "warped:1005"
    assert m[1003].pulled_to == 1004 and m[1006].pulled_to == 1007  # the keyframes were painted first
    assert all(rendered.count(f"frame {n} done") == 1 for n in FRAMES)  # each frame painted once


def test_a_keyframe_another_render_is_painting_is_waited_for(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import socket
    import subprocess
    import threading
    import time

    import impasto.shot.temporal as temporal
    from impasto.shot.locks import lock_path

    monkeypatch.setattr(temporal, "WAIT_POLL", 0.05)
    shot = load_shot(_shot(project, temporal={"boil": 1.0, "chunk": 3, "pull": 1, "between": "forward"}))
    shot.make_output_folder()
    other = subprocess.Popen(["sleep", "60"])  # stands in for a render painting keyframe 1004
    try:
        lock_path(shot.output_path(1004)).write_text(json.dumps(
            {"pid": other.pid, "host": socket.gethostname(), "started": time.time() - 1, "run": ""}))
        reports = []
        thread = threading.Thread(target=lambda: reports.append(render_frames(shot, [1001, 1002, 1003])))
        thread.start()
        while thread.is_alive() and 1002 not in read_manifest(shot.manifest_path()).done():
            time.sleep(0.05)
        thread.join(timeout=3)
        assert thread.is_alive()  # frame 1003 waits for keyframe 1004 while its render lives
        assert 1003 not in read_manifest(shot.manifest_path()).frames
    finally:
        other.kill()
        other.wait()
    thread.join(timeout=300)
    assert reports and reports[0].rendered == [1001, 1002, 1003]
    e = read_manifest(shot.manifest_path()).frames[1003]
    assert e.start == "warped:1002" and e.pulled_to is None and e.note == "keyframe 1004 not painted"
