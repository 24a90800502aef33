"""Shot rendering on a local Ray cluster: same frames as a local render, a worker killed mid-chunk loses and
duplicates nothing, a failed frame is recorded and not retried, a re-run paints nothing, and without Ray
`--cluster` says how to install it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.cluster import INSTALL_HINT, ClusterOptions, plan_workers
from impasto.errors import UsageError
from impasto.io.frames import Frame, read_frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.manifest import read_manifest
from impasto.shot.render import frame_opens
from impasto.shot.loop import render_frames

runner = CliRunner()
W, H = 64, 48
CRASH_FRAME = 1004


def _plate(n: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    t = (n - 1001) * 3.0
    r = 0.5 + 0.4 * np.sin((x + t) / 8.0)
    g = 0.45 + 0.35 * np.cos((y - t) / 6.0)
    b = 0.2 + 0.6 * (np.hypot(x - 18 - t, y - 24) < 11)
    return (np.stack([r, g, b], -1) * 0.8).astype(np.float32)


def _crash_once(frame: int, marker: Path):
    """A Ray worker setup hook (fault injection, test code only): in every worker process, the renderer dies with
    os._exit(1) at the first iteration of `frame`, as when a node is lost, once: only the process that manages to
    remove `marker` dies. Made here so that cloudpickle ships it by value."""

    def setup() -> None:
        from impasto.shot.render import ShotRenderer

        render_frame = ShotRenderer.render_frame

        def crashing(self, n, on_iteration=None):
            def hooked(i: int, its: int) -> None:
                if n == frame:
                    try:
                        os.unlink(marker)
                    except FileNotFoundError:
                        pass  # disarmed: another attempt already died here
                    else:
                        os._exit(1)
                if on_iteration is not None:
                    on_iteration(i, its)

            return render_frame(self, n, on_iteration=hooked)

        ShotRenderer.render_frame = crashing

    return setup


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray for the module (starting it is the slow part); its workers get the fault-injection hook."""
    ray = pytest.importorskip("ray")
    marker = tmp_path_factory.mktemp("crash") / "armed"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             runtime_env={"worker_process_setup_hook": _crash_once(CRASH_FRAME, marker)})
    try:
        yield marker
    finally:
        ray.shutdown()


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray) -> Path:
    (tmp_path / "plates").mkdir()
    for n in range(1001, 1009):
        write_frame(tmp_path / "plates" / f"p.{n}.exr", Frame(_plate(n)))
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    return tmp_path


def _shot(project: Path, name: str, frames: str, folder: str, iterations: int = 2) -> Path:
    data = {
        "name": name, "plate": "plates/p.####.exr", "frames": frames, "styles": ["style.png"],
        "look": {"iterations": iterations, "size": 48, "seed": 11, "u": 4.0},
        "render": {"scale": 0.75, "device": "cpu"}, "output": {"folder": folder},
    }
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_ray_render_from_the_cli_matches_a_local_render(ray_cluster: Path, project: Path) -> None:
    local = load_shot(_shot(project, "cs010", "1001-1006", "local"))
    report = render_frames(local, device="cpu")
    assert report.ok and len(report.rendered) == 6
    on_ray = _shot(project, "cs010", "1001-1006", "ray")

    res = runner.invoke(app, ["render", str(on_ray), "--cluster", "auto", "--frames-per-task", "2", "--max-retries", "1"])
    assert res.exit_code == 0, res.output
    assert "frame 1006 done" in res.output and "workers" in res.output
    shot = load_shot(on_ray)
    manifest = read_manifest(shot.manifest_path())
    assert sorted(manifest.done()) == list(range(1001, 1007))
    pids = {e.pid for e in manifest.frames.values()}
    assert os.getpid() not in pids  # painted by Ray workers, not the test process
    for n in range(1001, 1007):
        a, b = read_frame(local.output_path(n)).rgb, read_frame(shot.output_path(n)).rgb
        assert a.shape == b.shape == (H, W, 3)
        np.testing.assert_allclose(b, a, atol=2e-3)  # half-float EXR; both paths paint with one torch thread

    again = runner.invoke(app, ["render", str(on_ray), "--cluster", "auto"])
    assert again.exit_code == 0 and "all 6 frames are done" in again.output


def test_killed_worker_mid_chunk_loses_nothing_and_a_rerun_paints_nothing(ray_cluster: Path, project: Path) -> None:
    from impasto.cluster import render_on_cluster

    shot_file = _shot(project, "cs020", "1001-1008", "render")
    shot = load_shot(shot_file)
    bad = project / "plates" / "p.1002.exr"
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # header intact, pixels cut short: a user error for frame 1002 only
    ray_cluster.touch()  # arm: the first worker to paint frame 1004 dies at its first iteration

    events = []
    report = render_on_cluster(shot, options=ClusterOptions(frames_per_task=4, max_retries=2), progress=events.append)
    assert not ray_cluster.exists()  # a worker did die
    assert report.restarts >= 1 or report.requeued >= 1
    assert sorted(report.rendered) == [1001, 1003, 1004, 1005, 1006, 1007, 1008]
    assert list(report.failed) == [1002]
    assert any(e.kind == "done" and e.worker and e.rates for e in events)
    assert events[-1].done == 8 and events[-1].eta is not None

    m = read_manifest(shot.manifest_path()).frames
    assert sorted(m) == list(range(1001, 1009))
    # The chunk 1001-1004 was retried after the crash: frames the first attempt finished kept their entries (same
    # process), the failed frame was not retried, and only 1004 was painted by the restarted worker.
    first = m[1001].pid
    assert m[1002].pid == first and m[1003].pid == first and m[1002].status == "failed"
    assert m[1004].pid != first and m[1004].status == "done"
    for n in [1001, *range(1003, 1009)]:
        assert frame_opens(shot.output_path(n), (W, H))
    leftovers = [p.name for p in shot.output_folder().iterdir() if ".tmp" in p.name]
    assert not leftovers

    bad.write_bytes(good)  # fixed: the re-run paints just that frame
    report = render_on_cluster(shot, options=ClusterOptions(frames_per_task=4))
    assert report.rendered == [1002] and not report.failed
    assert len(report.skipped) == 7
    before = read_manifest(shot.manifest_path()).frames
    assert all(frame_opens(shot.output_path(n), (W, H)) for n in range(1001, 1009))

    report = render_on_cluster(shot, options=ClusterOptions(frames_per_task=4))
    assert report.rendered == [] and sorted(report.skipped) == list(range(1001, 1009))
    assert read_manifest(shot.manifest_path()).frames == before


def test_cluster_without_ray_says_how_to_install_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shot_file = _shot(project, "cs030", "1001-1002", "render")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    res = runner.invoke(app, ["render", str(shot_file), "--cluster", "auto"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "pip install 'impasto[cluster]'" in text and text.count(". ") == 0
    assert not (project / "render").exists()
    assert INSTALL_HINT.endswith(".")


def test_previous_frame_starts_cannot_be_spread_over_a_cluster(project: Path) -> None:
    pytest.importorskip("ray")
    from impasto.cluster import render_on_cluster

    shot = load_shot(_shot(project, "cs040", "1001-1002", "render"))
    with pytest.raises(UsageError, match="depend on each other"):
        render_on_cluster(shot, from_previous=True)


def test_workers_follow_the_cluster_resources() -> None:
    opts = ClusterOptions()
    assert plan_workers({"CPU": 8.0}, opts, chunks=20) == (8, 0.0, 1)
    assert plan_workers({"CPU": 8.0}, opts, chunks=3) == (3, 0.0, 1)
    assert plan_workers({"CPU": 16.0, "GPU": 4.0}, opts, chunks=20) == (4, 1.0, 1)
    assert plan_workers({"CPU": 16.0, "GPU": 4.0}, ClusterOptions(gpus_per_frame=0.5), chunks=20) == (8, 0.5, 1)
    assert plan_workers({"CPU": 16.0, "GPU": 4.0}, ClusterOptions(gpus_per_frame=0, cpus_per_frame=4), chunks=20) == (4, 0.0, 4)
    assert plan_workers({}, opts, chunks=5)[0] == 1  # autoscaling from zero: one worker asks for the first node
    with pytest.raises(UsageError, match="fewer than"):
        plan_workers({"CPU": 8.0}, ClusterOptions(gpus_per_frame=1), chunks=2)



def test_render_cluster_options_default_to_cluster_options() -> None:
    import typer.main

    params = {p.name: p.default for p in typer.main.get_command(app).commands["render"].params}
    defaults = ClusterOptions()
    assert params["frames_per_task"] is None and defaults.frames_per_task == 1  # None: ClusterOptions' own
    for name in ("gpus_per_frame", "cpus_per_frame", "workers", "max_retries"):
        assert params[name] == getattr(defaults, name), name


def test_chunk_is_a_deprecated_alias_of_frames_per_task(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`render --chunk N` (its old name) still sets the frames per Ray task, saying once that it is deprecated."""
    seen = []
    monkeypatch.setattr("impasto.commands.render._render_cluster", lambda shot, wanted, force, opts: seen.append(opts))
    shot_file = _shot(project, "cs030", "1001-1004", "render")
    res = runner.invoke(app, ["render", str(shot_file), "--cluster", "auto", "--chunk", "3"])
    assert res.exit_code == 0, res.output
    assert seen[-1].frames_per_task == 3
    assert res.output.count("--chunk is deprecated: use --frames-per-task") == 1
    assert "temporal.chunk" in res.output
    res = runner.invoke(app, ["render", str(shot_file), "--cluster", "auto", "--frames-per-task", "2"])
    assert res.exit_code == 0 and seen[-1].frames_per_task == 2 and "deprecated" not in res.output
    res = runner.invoke(app, ["render", str(shot_file), "--cluster", "auto"])
    assert res.exit_code == 0 and seen[-1].frames_per_task == ClusterOptions().frames_per_task
    res = runner.invoke(app, ["render", str(shot_file), "--cluster", "auto", "--chunk", "3", "--frames-per-task", "2"])
    assert res.exit_code == 2 and "give only --frames-per-task" in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------- one plan, one loop, every executor (issue 23)
def _entries(shot) -> dict[int, tuple]:
    """What a render's manifest says of each frame, less who painted it and when."""
    return {n: (e.status, e.output, e.look_hash, e.seed, e.init, e.boil, e.chunk, e.keyframe, e.start)
            for n, e in read_manifest(shot.manifest_path()).frames.items()}


@pytest.mark.parametrize("boil", [0.0, 1.0])
def test_one_plan_runs_the_same_on_every_executor(ray_cluster: Path, project: Path, boil: float) -> None:
    """The planner's plan of one shot, run by the one loop in this process, by two `impasto render` processes at
    once (splitting the frames through the frame locks) and by two Ray workers: the same frames, the same manifest,
    the same pictures (every executor paints with one torch thread)."""
    import subprocess

    from impasto.cluster import render_on_cluster
    from impasto.shot.render import ShotRenderer

    def shot_in(folder: str):
        path = _shot(project, "cs030", "1001-1006", folder).rename(project / f"cs030_{folder}.toml")  # one shot, 3 folders
        if boil:
            text = path.read_text() + f"\n[temporal]\nboil = {boil}\nchunk = 3\n"
            path.write_text(text)
        return load_shot(path)

    here, procs, ray = shot_in("here"), shot_in("procs"), shot_in("ray")
    with ShotRenderer(here, device="cpu") as r:
        plan = r.plan()
    frames = list(range(1001, 1007))
    assert sorted(plan.todo) == frames and (plan.todo[:2] == [1001, 1004] if boil else plan.todo == frames)

    report = render_frames(here, device="cpu", plan=plan)
    assert report.ok and sorted(report.rendered) == frames

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "impasto", "render", str(procs.source)]
    both = [subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outs

    with ShotRenderer(ray, device="cpu") as r:
        ray_plan = r.plan()
    assert ray_plan.todo == plan.todo and ray_plan.reasons == plan.reasons
    on_ray = render_on_cluster(ray, options=ClusterOptions(workers=2, max_retries=0), plan=ray_plan)
    assert sorted(on_ray.rendered) == frames and not on_ray.failed

    want = _entries(here)
    assert sorted(want) == frames and all(e[0] == "done" for e in want.values())
    assert _entries(procs) == want and _entries(ray) == want
    painted_by = {e.pid for e in read_manifest(procs.manifest_path()).frames.values()}
    assert os.getpid() not in painted_by and 1 <= len(painted_by) <= 2  # the two processes split the frames
    for n in plan.todo:
        a = read_frame(here.output_path(n)).rgb
        for other in (procs, ray):
            np.testing.assert_allclose(read_frame(other.output_path(n)).rgb, a, atol=2e-3)
