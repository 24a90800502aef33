"""The memory ceiling (--max-memory / $IMPASTO_MAX_MEMORY): parsing, and that renders plan tiles under it."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from impasto import devices
from impasto.cli import app
from impasto.errors import UsageError
from impasto.look import Look
from impasto.optim import memory


@pytest.mark.parametrize("text, expected", [
    ("16G", 16 * 2**30), ("16GiB", 16 * 2**30), ("1500M", 1500 * 2**20), ("2048", 2048), ("0.5g", 2**29), ("24gb", 24 * 2**30),
])
def test_parse_bytes(text: str, expected: int) -> None:
    assert devices.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "-3G", "0", "G", "nanG"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="not a memory size"):
        devices.parse_bytes(text)


def test_cap_lowers_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(devices.MAX_MEMORY_ENV, raising=False)
    free = devices.available_memory(torch.device("cpu"))
    assert free is not None and free > 2**20
    monkeypatch.setenv(devices.MAX_MEMORY_ENV, "1M")
    assert devices.available_memory(torch.device("cpu")) == 2**20


def test_cap_makes_a_frame_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4096×2160 frame under 16 GiB: tiles whose own estimate fits the ceiling (a whole frame would not)."""
    look = Look(size=4096)
    monkeypatch.setattr(devices, "_free_memory", lambda device: 64 * 2**30)
    monkeypatch.delenv(devices.MAX_MEMORY_ENV, raising=False)
    assert memory.plan_tile(2160, 4096, look, torch.device("cpu")) == 0
    monkeypatch.setenv(devices.MAX_MEMORY_ENV, "16G")
    tile = memory.plan_tile(2160, 4096, look, torch.device("cpu"))
    assert 256 < tile < 4096
    assert memory.estimate_memory(tile, tile) <= 16 * 2**30
    assert memory.estimate_memory(2160, 4096) > 16 * 2**30


def test_cli_rejects_a_bad_ceiling(tmp_path) -> None:
    result = CliRunner().invoke(app, ["stylize", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--max-memory", "lots"])
    assert result.exit_code == 2
    assert "not a memory size" in result.output
    assert not list(tmp_path.iterdir())
