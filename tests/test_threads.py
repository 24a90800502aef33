"""Painters share the CPU: each impasto process that paints takes its share of the cores among those painting now
(a machine-wide table of locked files), rebalanced as they come and go; --threads / IMPASTO_THREADS fix it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import impasto.threads as threads
from impasto.cli import app
from impasto.errors import UsageError
from impasto.threads import CpuShare, fixed_threads

HOLD = """
import sys, time
from pathlib import Path
import impasto.threads as t
t.cores = lambda: 4
with t.CpuShare(folder=Path(sys.argv[1])) as share:
    print(share.threads, flush=True)
    time.sleep(120)
"""


@pytest.fixture()
def four_cores(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_two_painters_take_half_the_cores_each_and_one_alone_takes_all(tmp_path: Path, four_cores) -> None:
    torch.set_num_threads(1)
    with CpuShare(folder=tmp_path) as share:
        assert share.painters() == 1 and share.threads == 4 and torch.get_num_threads() == 4
        other = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout.readline().strip() == "2"  # it came second: half
            assert share.rebalance(force=True) == 2 and torch.get_num_threads() == 2
        finally:
            other.kill()
            other.wait()
        # A painter that died without leaving: its lock went with it, its entry is removed at the next count.
        assert share.rebalance(force=True) == 4
        assert [p.name for p in tmp_path.iterdir()] == [share.path.name]
    assert not list(tmp_path.iterdir())  # leaving removes the entry
    assert torch.get_num_threads() == 1  # and gives back the threads it started with


def test_rebalance_between_iterations_is_a_no_op_outside_a_share(four_cores) -> None:
    torch.set_num_threads(3)
    threads.rebalance()
    assert torch.get_num_threads() == 3  # a library call leaves torch's threads alone


def test_a_fixed_count_is_applied_and_not_shared(tmp_path: Path, four_cores) -> None:
    with CpuShare(3, folder=tmp_path) as share:
        assert share.threads == 3 and torch.get_num_threads() == 3 and not list(tmp_path.iterdir())
        assert share.rebalance(force=True) == 3


def test_bad_thread_counts_are_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_THREADS", "many")
    with pytest.raises(UsageError, match="1 or more, not 'many'"):
        fixed_threads()
    monkeypatch.setenv("IMPASTO_THREADS", "")
    assert fixed_threads() is None and fixed_threads(2) == 2
    res = CliRunner().invoke(app, ["--threads", "0", "demo", "-o", "never.png"])
    assert res.exit_code == 2 and "--threads / IMPASTO_THREADS must be a whole number" in res.output
    assert not Path("never.png").exists()


def test_a_read_only_table_paints_with_torch_s_own_count(tmp_path: Path, four_cores) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    torch.set_num_threads(1)
    with CpuShare(folder=blocked / "painters") as share:
        assert share.threads == 0 and torch.get_num_threads() == 1
