"""Feedback that tells the truth: the progress bar keeps its count and ETA in an 80-column terminal, a sweep off a
terminal logs progress inside a cell, fast train's ETA counts down to --minutes, and sweep takes --seed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from impasto.cli import app
from impasto.commands.common import ProgressReporter
from impasto.commands.fast import TrainReporter
from impasto.commands.sweep import SweepProgress
from impasto.io.images import write_image

runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _drawn(reporter, clock: Clock, console: Console) -> list[str]:
    """The bar's lines as the console draws them (no live thread: the clock is the test's)."""
    console.print(reporter.bar.get_renderable())
    return [line for line in console.export_text().splitlines() if line.strip()]


def _terminal(width: int) -> Console:
    return Console(width=width, record=True, force_terminal=True, file=io.StringIO(), color_system=None)


def _with_clock(reporter, clock: Clock) -> None:
    reporter.bar.get_time = clock
    for task in reporter.bar.tasks:
        task._get_time = clock


@pytest.mark.parametrize("width", [80, 60])
def test_progress_bar_keeps_count_and_eta_in_a_narrow_terminal(width: int) -> None:
    console, clock = _terminal(width), Clock()
    reporter = ProgressReporter(256, "stylize", console=console)
    _with_clock(reporter, clock)
    for i in range(1, 65):
        clock.now += 0.5
        reporter(SimpleNamespace(iteration=i, iterations=256, loss=1.2345e5, content=1.23e4, style=1.1e5,
                                 elapsed=i * 0.5))
    [line] = _drawn(reporter, clock, console)
    assert len(line) <= width
    assert "64/256" in line and "ETA 0:01:36" in line  # 192 iterations left at 2 it/s
    assert "…" not in line  # nothing squeezed into an ellipsis
    if width == 80:
        assert "loss 1.234e+05" in line and "2.00 it/s" in line and "(content" not in line


def test_progress_bar_shows_everything_when_there_is_room() -> None:
    console, clock = _terminal(200), Clock()
    reporter = ProgressReporter(10, "preview", console=console)
    _with_clock(reporter, clock)
    clock.now += 1
    reporter(SimpleNamespace(iteration=5, iterations=10, loss=2.0, content=1.0, style=1.0, elapsed=1.0))
    [line] = _drawn(reporter, clock, console)
    assert "5/10" in line and "(content 1.00e+00, style 1.00e+00)" in line and "ETA" in line


def test_fast_train_eta_counts_down_to_the_time_limit(capsys: pytest.CaptureFixture[str]) -> None:
    p = SimpleNamespace(step=50, steps=1000, loss=0.5, buckets={"u2-4": 0.5}, elapsed=30.0, resumed_from=0)
    log = io.StringIO()
    off = TrainReporter(1000, time_limit=60.0, console=Console(file=log, force_terminal=False))
    assert off.eta(570.0, 30.0) == 30.0  # the steps would take 570 s; the limit ends it in 30 s
    assert TrainReporter(1000, console=Console(file=log, force_terminal=False)).eta(570.0, 30.0) == 570.0
    off(p)
    logged = capsys.readouterr().err
    assert "fast train: step 50/1000" in logged and "ETA 30s" in logged

    console, clock = _terminal(80), Clock()
    bar = TrainReporter(1000, time_limit=120.0, console=console)
    _with_clock(bar, clock)
    bar.bar.update(bar.task, deadline=clock.now + 120.0)  # as made, in the test's clock
    [line] = _drawn(bar, clock, console)
    assert "0/1000" in line and "ETA 0:02:00" in line  # before any step: the limit is the estimate
    clock.now += 10
    bar(SimpleNamespace(step=10, steps=1000, loss=0.5, buckets={}, elapsed=10.0, resumed_from=0))
    console2 = _terminal(80)
    [line] = _drawn(bar, clock, console2)
    assert "10/1000" in line and "ETA 0:01:50" in line


def test_sweep_logs_inside_a_cell_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    progress = SweepProgress(console=Console(file=io.StringIO(), force_terminal=False))
    assert progress.bar is None
    run = SimpleNamespace(variant=SimpleNamespace(label="paint.png"), u=3.0, iterations=40)
    progress.start([run], 0, 1)
    for i in range(1, 41):
        progress.iteration(run, SimpleNamespace(iteration=i, iterations=40, loss=1.0, elapsed=0.25 * i))
    lines = capsys.readouterr().err.splitlines()
    inside = [ln for ln in lines if ": iteration " in ln]
    assert [ln.split("iteration ")[1].split(" ")[0] for ln in inside] == [f"{4 * k}/40" for k in range(1, 10)]
    assert "sweep: paint.png, u 3: iteration 4/40 (10%), loss 1.0000e+00, 1.0 s, ETA 9 s" in inside
    assert any(ln.startswith("sweep: run 1/1") for ln in lines)


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
