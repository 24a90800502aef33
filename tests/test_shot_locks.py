"""Two renders of one shot at once split its frames (a lock per frame, contended by two subprocesses), and a
stale lock (its process gone, or untouched for too long) is taken over; a live one is left alone."""

from __future__ import annotations

import json
import os
import re
import socket
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
from impasto.shot.locks import Holder, claim, is_stale, lock_path, read_holder
from impasto.shot.manifest import read_manifest

runner = CliRunner()
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
W, H = 48, 32
FRAMES = list(range(1001, 1009))


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    for n in FRAMES:
        t = (n - 1001) * 2.0
        rgb = np.stack([0.5 + 0.4 * np.sin((x + t) / 7.0), 0.4 + 0.3 * np.cos((y - t) / 5.0), 0.3 + 0 * x], -1)
        write_frame(tmp_path / f"plates/lk010_plate.{n}.exr", Frame(rgb.astype(np.float32)))
    write_image(tmp_path / "style.png", style_rgb[:48, :48])
    data = {
        "name": "lk010", "plate": "plates/lk010_plate.####.exr", "frames": f"{FRAMES[0]}-{FRAMES[-1]}",
        "styles": ["style.png"], "look": {"iterations": 1, "size": 32, "seed": 3},
        "render": {"scale": 0.67, "device": "cpu"},
    }
    (tmp_path / "lk010.toml").write_text(tomli_w.dumps(data))
    return tmp_path


def _painted_by(stderr: str) -> set[int]:
    """Frames a render says it painted (one plain line per frame off a terminal)."""
    return {int(n) for n in re.findall(r"lk010 v001: frames \d+/\d+ \(\d+%\), frame (\d+) done in", stderr)}


def test_two_renders_at_once_paint_every_frame_exactly_once(project: Path) -> None:
    shot_file = project / "lk010.toml"
    procs = [subprocess.Popen([sys.executable, "-m", "impasto", "render", str(shot_file)], cwd=project, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    painted = [_painted_by(err) for _, err in outs]
    assert painted[0].isdisjoint(painted[1]), painted  # no frame painted twice
    assert painted[0] | painted[1] == set(FRAMES)
    shot = load_shot(shot_file)
    entries = read_manifest(shot.manifest_path()).frames
    assert sorted(entries) == FRAMES and {e.status for e in entries.values()} == {"done"}
    for p, frames in zip(procs, painted):
        assert all(entries[n].pid == p.pid for n in frames)  # the manifest names the process that painted it
    # no lock is left behind, and a third render paints nothing
    assert [q.name for q in shot.output_folder().iterdir() if q.name.endswith(".lock") and "manifest" not in q.name] == []
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0 and "all 8 frames are done" in res.output


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _lock(shot, frame: int, pid: int, host: str | None = None, age: float = 0.0) -> Path:
    path = lock_path(shot.output_path(frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": time.time() - age}))
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_stale_locks_are_taken_over_and_a_live_one_is_left_alone(project: Path) -> None:
    shot_file = project / "lk010.toml"
    text = shot_file.read_text().replace('frames = "1001-1008"', 'frames = "1001-1003"')
    shot_file.write_text(text)
    shot = load_shot(shot_file)
    dead = _lock(shot, 1001, _dead_pid())  # a render killed on this host
    far = _lock(shot, 1002, 4242, host="elsewhere.farm", age=3 * 3600)  # untouched for hours on another host
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = _lock(shot, 1003, sleeper.pid)  # a render still running here
        res = runner.invoke(app, ["render", str(shot_file)], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        assert f"frame 1003 left to another render (held by pid {sleeper.pid} on {socket.gethostname()})" in res.output
        assert "1 left to another render" in res.output
        entries = read_manifest(shot.manifest_path()).frames
        assert sorted(entries) == [1001, 1002] and all(e.pid == os.getpid() for e in entries.values())
        assert not dead.exists() and not far.exists()  # taken over, then released
        assert read_holder(live)[0].pid == sleeper.pid  # left alone
    finally:
        sleeper.kill()
        sleeper.wait()
    # its process gone, the lock is stale and the next render paints the frame
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0, res.output
    assert "rendering 1 of 3 frames (new: 1003)" in res.output
    assert sorted(read_manifest(shot.manifest_path()).frames) == [1001, 1002, 1003] and not live.exists()


def test_claim_rules(tmp_path: Path) -> None:
    out, manifest = tmp_path / "render/a.1001.exr", tmp_path / "render/a.manifest.json"
    me = Holder(os.getpid(), socket.gethostname(), time.time())
    assert not is_stale(me, time.time())
    assert is_stale(Holder(_dead_pid(), socket.gethostname(), time.time()), time.time())
    if Path("/proc/self").exists():  # a live pid that started after the lock was written: reused, so stale
        assert is_stale(Holder(os.getpid(), socket.gethostname(), 0.0), time.time())
    assert is_stale(Holder(1, "other", 0.0), time.time() - 7200) and not is_stale(Holder(1, "other", 0.0), time.time())
    assert is_stale(Holder(1, "other", 0.0, run="ray:1"), time.time(), run="ray:1")  # a lost worker of this run
    assert claim(out, manifest, lambda: False) is None  # painted meanwhile: nothing to claim, no lock written
    assert not lock_path(out).exists()
    got = claim(out, manifest, lambda: True)
    assert got is not None and not isinstance(got, Holder) and lock_path(out).is_file()
    assert claim(out, manifest, lambda: True) == got.holder  # held (by this live process)
    got.release()
    assert not lock_path(out).exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_unreaped_holder_is_gone() -> None:
    """A render killed on a farm whose container has no init stays a zombie: its lock is stale all the same."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.time() - 1.0
    holder = Holder(child.pid, socket.gethostname(), started)
    assert not is_stale(holder, time.time())
    os.kill(child.pid, 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
        time.sleep(0.02)  # not reaped (no wait yet): a zombie
    try:
        assert is_stale(holder, time.time())
    finally:
        child.wait()
