"""`impasto farm export`: a shot's plan as an Open Job Description job bundle, checked and run by the real OpenJD
runner (`openjd check`, `openjd run`) on a tiny EXR shot at boil 0 and boil 1: every frame painted once, in
dependency order, the manifest complete; a task killed mid-way and run again repaints nothing finished; bad input
is one sentence and writes nothing."""

from __future__ import annotations

import contextlib
import json
import os
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
from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.manifest import read_manifest

pytest.importorskip("openjd.model")
runner = CliRunner()
W, H = 48, 36
OPENJD = Path(sys.executable).with_name("openjd")
IMPASTO = Path(sys.executable).with_name("impasto")
pytestmark = pytest.mark.skipif(not OPENJD.is_file() or not IMPASTO.is_file(),
                                reason="the openjd and impasto commands are installed beside this Python")


def _plate(n: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    t = (n - 1001) * 2.0
    return (np.stack([0.5 + 0.4 * np.sin((x + t) / 7.0), 0.45 + 0.35 * np.cos((y - t) / 5.0),
                      0.2 + 0.6 * (np.hypot(x - 14 - t, y - 18) < 8)], -1) * 0.8).astype(np.float32)


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "plates").mkdir()
    for n in range(1001, 1007):
        write_frame(tmp_path / "plates" / f"p.{n}.exr", Frame(_plate(n)))
    write_image(tmp_path / "style.png", style_rgb[:48, :48])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _shot(project: Path, name: str = "cs010", *, iterations: int = 2, **extra: dict) -> Path:
    data = {"name": name, "plate": "plates/p.####.exr", "frames": "1001-1006", "styles": ["style.png"],
            "look": {"iterations": iterations, "size": 48, "seed": 3, "u": 4.0}, "render": {"device": "cpu"},
            "output": {"folder": f"render_{name}"}, **extra}
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _export(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["farm", "export", *args])
    return res.exit_code, " ".join(res.output.split())


def _openjd(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(OPENJD), *args], capture_output=True, text=True, timeout=timeout)


def _run(bundle: Path, *args: str) -> str:
    done = _openjd("run", str(bundle / "template.json"), "-p", f"file://{bundle / 'openjd_parameters.json'}", *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _painted(log: str) -> list[int]:
    """The frames the tasks' renders painted, in the order they finished, from the runner's log."""
    return [int(part.split(" frame ")[1].split(" ")[0]) for part in log.splitlines() if " done in " in part]


def test_boil_0_is_one_step_of_frame_ranges_that_openjd_runs(project: Path) -> None:
    shot_file = _shot(project)
    code, out = _export(str(shot_file), "-o", "job", "--frames-per-task", "4")
    assert code == 0, out
    assert "steps Paint (2 tasks)" in out and "deadline bundle submit job" in out
    template = json.loads((project / "job" / "template.json").read_text())
    [step] = template["steps"]
    [param] = step["parameterSpace"]["taskParameterDefinitions"]
    assert step["name"] == "Paint" and param["type"] == "CHUNK[INT]" and param["range"] == "1001-1006"
    assert param["chunks"] == {"defaultTaskCount": 4, "rangeConstraint": "CONTIGUOUS"}
    assert step["script"]["actions"]["onRun"]["args"] == ["render", "{{Param.ShotFile}}", "--frames",
                                                          "{{Task.Param.Frames}}"]
    env = template["jobEnvironments"][0]["variables"]
    assert env["IMPASTO_AUTO_PRECISION"] == "{{Param.AutoPrecision}}" and "IMPASTO_REQUIRE_VERSION" in env
    kinds = {p["name"]: p["type"] for p in template["parameterDefinitions"]}
    assert kinds["ShotFile"] == kinds["ShotFolder"] == kinds["OutputFolder"] == kinds["Impasto"] == "PATH"
    values = {v["name"]: v["value"] for v in json.loads((project / "job" / "parameter_values.json").read_text())["parameterValues"]}
    assert values["ShotFile"] == str(shot_file.resolve()) and values["AutoPrecision"] == "fp32"

    checked = _openjd("check", str(project / "job" / "template.json"))
    assert checked.returncode == 0 and "passes validation checks" in checked.stdout, checked.stdout + checked.stderr
    log = _run(project / "job", "--step", "Paint")
    assert sorted(_painted(log)) == list(range(1001, 1007))  # each frame exactly once
    assert log.count("Frames(CHUNK[INT]) = ") == 2  # two tasks of at most four frames
    m = read_manifest(load_shot(shot_file).manifest_path())
    assert sorted(m.done()) == list(range(1001, 1007))

    again = _run(project / "job", "--step", "Paint")
    assert _painted(again) == [] and again.count("all 3 frames are done") == 2  # the runner evens the chunks: 3 + 3


def test_boil_1_paints_keyframes_then_chunks_in_dependency_order(project: Path) -> None:
    shot_file = _shot(project, temporal={"boil": 1.0, "chunk": 3})
    code, out = _export(str(shot_file), "-o", "job")
    assert code == 0, out
    assert "steps Keyframes (1 task), Chunks (2 tasks)" in out
    template = json.loads((project / "job" / "template.json").read_text())
    keys, chunks = template["steps"]
    assert keys["name"] == "Keyframes" and chunks["name"] == "Chunks"
    assert chunks["dependencies"] == [{"dependsOn": "Keyframes"}]
    # two-sided (the default): the shot's last frame is a keyframe too
    assert keys["parameterSpace"]["taskParameterDefinitions"][0]["range"] == "1001,1004,1006"
    assert chunks["parameterSpace"]["taskParameterDefinitions"][0]["range"] == "1002-1003,1005"
    assert _openjd("check", str(project / "job" / "template.json")).returncode == 0

    log = _run(project / "job", "--step", "Chunks", "--run-dependencies")
    painted = _painted(log)
    assert sorted(painted) == list(range(1001, 1007))
    assert painted[:3] == [1001, 1004, 1006]  # the keyframes' step ran first
    m = read_manifest(load_shot(shot_file).manifest_path()).frames
    assert all(m[n].status == "done" for n in range(1001, 1007))
    assert m[1001].keyframe and m[1004].keyframe and m[1006].keyframe
    assert m[1005].start == "between:1004,1006" and m[1003].held_to == [1001, 1004]


def test_independent_keyframes_are_a_task_each(project: Path) -> None:
    from impasto.farm import build_job
    from impasto.shot.render import ShotRenderer

    shot = load_shot(_shot(project, temporal={"boil": 0.5, "chunk": 2, "keyframes": "independent"}))
    with ShotRenderer(shot, device="cpu") as r:
        job = build_job(shot, r.plan())
    assert job.steps == {"Keyframes": [[1001], [1003], [1005], [1006]], "Chunks": [[1002], [1004]]}


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            parents.setdefault(int(text[text.rindex(")") + 2:].split()[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the task's processes in /proc")
def test_a_task_killed_mid_way_repaints_nothing_finished_when_run_again(project: Path) -> None:
    shot_file = _shot(project, iterations=60)
    assert _export(str(shot_file), "-o", "job", "--frames-per-task", "6")[0] == 0
    shot = load_shot(shot_file)
    cmd = [str(OPENJD), "run", str(project / "job" / "template.json"), "-p",
           f"file://{project / 'job' / 'openjd_parameters.json'}", "--step", "Paint"]
    task = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and task.poll() is None:
            if shot.manifest_path().exists() and read_manifest(shot.manifest_path()).done():
                break
            time.sleep(0.05)
    finally:
        for pid in [task.pid, *_descendants(task.pid)]:  # the runner puts its command in a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the worker dies: no clean-up, its frame lock stays behind
        task.wait()
    before = read_manifest(shot.manifest_path()).done()
    assert 1 <= len(before) < 6, "the task should have been killed after its first frame and before its last"

    log = _run(project / "job", "--step", "Paint")
    assert sorted(_painted(log)) == sorted(set(range(1001, 1007)) - set(before)), log  # nothing finished painted again
    after = read_manifest(shot.manifest_path()).done()
    assert sorted(after) == list(range(1001, 1007))
    assert all(after[n].finished == e.finished and after[n].pid == e.pid for n, e in before.items())


def test_path_mapping_rules_move_the_shot(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Parameters as a workstation named them, mapped by the runner to where this 'worker' mounts the project."""
    shot_file = _shot(project)
    assert _export(str(shot_file), "-o", "job", "--frames", "1001-1002")[0] == 0
    values = json.loads((project / "job" / "openjd_parameters.json").read_text())
    elsewhere = "/mnt/studio/show/cs010"
    for key in ("ShotFile", "ShotFolder", "OutputFolder"):
        values[key] = values[key].replace(str(project.resolve()), elsewhere)
    (project / "job" / "openjd_parameters.json").write_text(json.dumps(values))
    rules = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": elsewhere, "destination_path": str(project.resolve())}]}
    log = _run(project / "job", "--step", "Paint", "--path-mapping-rules", json.dumps(rules))
    assert sorted(_painted(log)) == [1001, 1002]


def test_bad_input_is_one_sentence_and_writes_nothing(project: Path) -> None:
    shot_file = _shot(project, "cs020")
    # An existing bundle folder is kept without --force.
    (project / "taken").mkdir()
    code, out = _export(str(shot_file), "-o", "taken")
    assert code == 2 and "'taken' already exists; pass --force" in out and not any((project / "taken").iterdir())
    assert _export(str(shot_file), "-o", "taken", "--force")[0] == 0 and (project / "taken" / "template.json").is_file()

    # A missing look file.
    data = {"name": "cs030", "plate": "plates/p.####.exr", "frames": "1001-1006", "look_file": "missing_look.toml"}
    (project / "cs030.toml").write_text(tomli_w.dumps(data))
    code, out = _export(str(project / "cs030.toml"), "-o", "job3")
    assert code == 2 and "missing_look.toml" in out and "Traceback" not in out and not (project / "job3").exists()

    # An output folder that cannot be created.
    (project / "a_file").write_text("in the way")
    bad = _shot(project, "cs040", output={"folder": "a_file/render"})
    code, out = _export(str(bad), "-o", "job4")
    assert code == 2 and "cannot be created" in out and "a_file" in out and not (project / "job4").exists()

    # A shot with no frames left to render.
    done = _shot(project, "cs050")
    assert runner.invoke(app, ["render", str(done), "--frames", "1001-1002"]).exit_code == 0
    code, out = _export(str(done), "-o", "job5", "--frames", "1001-1002")
    assert code == 2 and "has nothing to render (all its frames are done)" in out and not (project / "job5").exists()

    code, out = _export(str(shot_file), "-o", "job6", "--frames-per-task", "0")
    assert code == 2 and "--frames-per-task must be 1 or more" in out and not (project / "job6").exists()
    code, out = _export(str(shot_file), "-o", "job7", "--impasto", "no-such-impasto")
    assert code == 2 and "give the absolute path of impasto on the workers" in out and not (project / "job7").exists()
    code, out = _export(str(shot_file), "-o", "job8", "--precision", "fp16")
    assert code == 2 and "--precision must be one of fp32, tf32, bf16" in out and not (project / "job8").exists()
    code, out = _export(str(shot_file), "-o", "job9", "--impasto", "/opt/impasto/bin/impasto")
    values = json.loads((project / "job9" / "openjd_parameters.json").read_text())
    assert code == 0 and values["Impasto"] == "/opt/impasto/bin/impasto"  # the workers' path, kept as given
    assert not [p for p in project.iterdir() if ".tmp-" in p.name]


def test_a_worker_on_another_version_stops_in_one_sentence(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_REQUIRE_VERSION", "0.0.1")
    res = runner.invoke(app, ["render", str(_shot(project))])
    assert res.exit_code == 2 and "This job needs impasto 0.0.1 and this machine runs impasto" in res.output
    assert not (project / "render_cs010").exists()
