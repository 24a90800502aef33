"""Feedback that tells the truth: one reporter (impasto.commands.progress.Reporter) for every scope of the one
progress model (impasto.progress): the bar keeps its count and ETA in an 80-column terminal, a sweep off a terminal
logs progress inside a cell, fast train's ETA counts down to --minutes, frame lines carry the loss, and sweep takes
--seed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from impasto.cli import app
from impasto.commands.progress import Reporter
from impasto.io.images import write_image
from impasto.progress import CellEvent, FrameEvent, Progress, TrainProgress, duration

runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _drawn(reporter: Reporter, console: Console) -> list[str]:
    """The bars' lines as the console draws them (no live thread: the clock is the test's)."""
    console.print(reporter.bar.get_renderable())
    return [line for line in console.export_text().splitlines() if line.strip()]


def _terminal(width: int) -> Console:
    return Console(width=width, record=True, force_terminal=True, file=io.StringIO(), color_system=None)


def _log() -> Console:
    return Console(file=io.StringIO(), force_terminal=False)


def _with_clock(reporter: Reporter, clock: Clock) -> None:
    reporter.bar.get_time = clock
    for task in reporter.bar.tasks:
        task._get_time = clock


def _iteration(i: int, total: int, **kw) -> Progress:
    terms = {"content": kw.pop("content", 1.23e4), "style": kw.pop("style", 1.1e5)}
    return Progress(done=i, total=total, loss=kw.pop("loss", 1.2345e5), elapsed=kw.pop("elapsed", i * 0.5),
                    terms=terms, **kw)


@pytest.mark.parametrize("width", [80, 60])
def test_progress_bar_keeps_count_and_eta_in_a_narrow_terminal(width: int) -> None:
    console, clock = _terminal(width), Clock()
    reporter = Reporter("stylize", totals={"iteration": 256}, console=console)
    _with_clock(reporter, clock)
    for i in range(1, 65):
        clock.now += 0.5
        reporter(_iteration(i, 256))
    [line] = _drawn(reporter, console)
    assert len(line) <= width
    assert "64/256" in line and "ETA 0:01:36" in line  # 192 iterations left at 2 it/s
    assert "…" not in line  # nothing squeezed into an ellipsis
    if width == 80:
        assert "loss 1.2345e+05" in line and "content" not in line


def test_progress_bar_shows_everything_when_there_is_room() -> None:
    console, clock = _terminal(200), Clock()
    reporter = Reporter("preview", totals={"iteration": 10}, console=console)
    _with_clock(reporter, clock)
    clock.now += 1
    reporter(_iteration(5, 10, content=1.0, style=1.0, loss=2.0, elapsed=1.0))
    [line] = _drawn(reporter, console)
    assert "5/10" in line and "5.00 it/s" in line and "content 1.000e+00 style 1.000e+00" in line and "ETA" in line


def test_fast_train_eta_counts_down_to_the_time_limit(capsys: pytest.CaptureFixture[str]) -> None:
    p = TrainProgress(done=50, total=1000, loss=0.5, buckets={"u2-4": 0.5}, elapsed=30.0, time_limit=60.0)
    assert p.remaining() == 30.0  # the steps would take 570 s; the limit ends it in 30 s
    assert TrainProgress(done=50, total=1000, loss=0.5, elapsed=30.0).remaining() == 570.0
    off = Reporter("fast train", totals={"step": 1000}, time_limit=60.0, console=_log())
    off(p)
    logged = capsys.readouterr().err
    assert "fast train: step 50/1000 (5%), loss 0.5000, 0.60 s/step, u2-4 0.500, ETA 30 s" in logged

    console, clock = _terminal(80), Clock()
    bar = Reporter("fast train", totals={"step": 1000}, time_limit=120.0, console=console)
    _with_clock(bar, clock)
    [line] = _drawn(bar, console)
    assert "0/1000" in line and "ETA 0:02:00" in line  # before any step: the limit is the estimate
    clock.now += 10
    bar(TrainProgress(done=10, total=1000, loss=0.5, elapsed=10.0, time_limit=120.0))
    [line] = _drawn(bar, _terminal(80))
    assert "10/1000" in line and "ETA 0:01:50" in line


def test_a_resumed_training_paces_only_its_own_steps() -> None:
    p = TrainProgress(done=600, total=1000, loss=0.4, elapsed=100.0, resumed_from=500)
    assert p.remaining() == pytest.approx(400.0)  # 100 steps in 100 s: 400 left


def test_sweep_logs_inside_a_cell_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter("sweep", totals={"cell": 1}, console=_log())
    assert reporter.bar is None
    reporter(CellEvent(kind="start", done=0, total=1, name="paint.png, u 3"))
    for i in range(1, 41):
        reporter(Progress(done=i, total=40, loss=1.0, elapsed=0.25 * i, subject="paint.png, u 3"))
    reporter(CellEvent(kind="done", done=1, total=1, name="paint_u3_it40", seconds=10.0, loss=1.0))
    lines = capsys.readouterr().err.splitlines()
    inside = [ln for ln in lines if ": iteration " in ln]
    assert [ln.split("iteration ")[1].split(" ")[0] for ln in inside] == ["1/40"] + [f"{2 * k}/40" for k in range(1, 21)]  # the first, then every 5 %
    assert inside[2].startswith("sweep: paint.png, u 3: iteration 4/40 (10%), loss 1.0000e+00, 4.00 it/s")
    assert inside[2].endswith("ETA 9.0 s")
    assert lines[0] == "sweep: cell 0/1 (0%), paint.png, u 3, ETA -"
    assert lines[-1] == "sweep: cell 1/1 (100%), paint_u3_it40, 10 s, loss 1.0000e+00, ETA 0.0 s"


def test_frame_lines_carry_the_loss_and_the_workers(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter("cs010 v001", totals={"frame": 3}, console=_log())
    reporter(FrameEvent(kind="start", frame=1001, done=0, total=3))  # no line: a log gets finished frames
    reporter(FrameEvent(kind="iteration", frame=1001, done=0, total=3, iteration=4, iterations=8))
    reporter(FrameEvent(kind="done", frame=1001, done=1, total=3, seconds=12.0, per_frame=12.0, eta=24.0, loss=3.5e4))
    reporter(FrameEvent(kind="failed", frame=1002, done=2, total=3, seconds=1.0, error="bad matte", worker="w1",
                        rates={"w1": 300.0}, workers=2))
    reporter(FrameEvent(kind="ready", frame=0, done=0, total=3, workers=2, address="127.0.0.1:6379"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "cs010 v001: frames 1/3 (33%), frame 1001 done in 12 s, loss 3.5000e+04, 12 s/frame, ETA 24 s"
    assert lines[1].startswith("cs010 v001: frames 2/3 (66%), frame 1002 FAILED (bad matte), on w1 (300 frames/h), "
                               "2 workers, 300 frames/h")
    assert lines[2] == "cs010 v001: frames 0/3 (0%), 2 workers on 127.0.0.1:6379, ETA -"
    assert len(lines) == 3


def test_a_bar_per_subject_goes_when_its_run_ends() -> None:
    console = _terminal(120)
    reporter = Reporter("sweep", totals={"cell": 2}, console=console)
    reporter(Progress(done=5, total=10, loss=1.0, elapsed=1.0, subject="a.png, u 3"))
    assert len(_drawn(reporter, console)) == 2  # the cells and the run
    reporter(Progress(done=10, total=10, loss=1.0, elapsed=2.0, subject="a.png, u 3"))
    assert len(_drawn(reporter, _terminal(120))) == 1


@pytest.mark.parametrize(("seconds", "text"), [(None, "-"), (8.24, "8.2 s"), (42.4, "42 s"), (185, "3m05s"),
                                               (4800, "1h20m")])
def test_durations_read_as_a_person_says_them(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_sweep_takes_one_seed(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    frame = write_image(tmp_path / "frame.png", content_rgb[:32, :32])
    paint = write_image(tmp_path / "paint.png", style_rgb[:32, :32])
    out = tmp_path / "sw"
    args = ["sweep", str(frame), str(paint), "--u", "3", "--iterations", "10", "--size", "32", "--device", "cpu",
            "-o", str(out)]
    r = runner.invoke(app, [*args, "--seed", "5", "--seeds", "1,2"])
    assert r.exit_code == 2 and "not both" in r.output and not out.exists()
    r = runner.invoke(app, [*args, "--seed", "5"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "sweep.json").read_text())["axes"]["seeds"] == [5]
    assert "iteration 1/10 (10%)" in r.output and "iteration 9/10 (90%)" in r.output  # CliRunner: not a terminal
