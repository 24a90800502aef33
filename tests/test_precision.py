"""'auto' precision is decided by measurement, once per machine, and said; tests pin fp32 (conftest)."""

from __future__ import annotations

import json

import pytest
import torch

import impasto.features.precision as P
from impasto.api import render
from impasto.errors import UsageError
from impasto.look import Look

CPU = torch.device("cpu")


@pytest.fixture()
def unpinned(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv(P.AUTO_ENV, raising=False)
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path))
    monkeypatch.setattr(P, "_CHOICES", {})
    return tmp_path


def test_bf16_only_where_it_pays() -> None:
    fast = P.decide({"fp32": 1.0, "bf16": 0.6}, "fp32", CPU)
    assert fast.precision == "bf16" and "1.67× faster" in fast.reason
    close = P.decide({"fp32": 1.0, "bf16": 0.9}, "fp32", CPU)  # 1.11×: not worth its rounding
    assert close.precision == "fp32" and "1.2×" in close.reason
    slow = P.decide({"fp32": 1.0, "bf16": 10.0, "screened": 1.0}, "fp32", CPU)
    assert slow.precision == "fp32" and "convolution" in slow.reason
    gpu = P.decide({"tf32": 1.0, "bf16": 0.95}, "tf32", torch.device("cuda"))
    assert gpu.precision == "tf32"


def test_measured_once_per_machine_and_cached_beside_the_weights(unpinned) -> None:
    calls = []

    def fake(device):
        calls.append(device)
        return {"fp32": 2.0, "bf16": 1.0}

    first = P.auto_precision(CPU, measure=fake)
    assert first.precision == "bf16" and len(calls) == 1
    assert P.auto_precision(CPU, measure=fake) == first and len(calls) == 1  # this process remembers
    P._CHOICES.clear()
    assert P.auto_precision(CPU, measure=fake) == first and len(calls) == 1  # so does the cache file
    stored = json.loads((unpinned / P.PROBE_FILE).read_text())
    assert list(stored) == [P.machine_key(CPU)] and stored[P.machine_key(CPU)]["choice"]["precision"] == "bf16"
    assert P.resolve_precision("auto", CPU) == "bf16" and P.resolve_precision("fp32", CPU) == "fp32"
    assert P.resolve_precision("tf32", CPU) == "fp32"


def test_the_machine_key_names_what_the_speed_depends_on() -> None:
    key = P.machine_key(CPU)
    assert P.cpu_model() in key and torch.__version__ in key and f"{__import__('os').cpu_count()} cores" in key


def test_environment_pins_auto(unpinned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.AUTO_ENV, "bf16")
    assert P.auto_precision(CPU, measure=lambda d: pytest.fail("measured")).precision == "bf16"
    monkeypatch.setenv(P.AUTO_ENV, "half")
    with pytest.raises(UsageError, match="fp32, tf32 or bf16"):
        P.auto_precision(CPU)


def test_the_real_probe_is_quick_on_a_tiny_size() -> None:
    times = P.measure_passes(CPU, size=(32, 32), runs=1)
    assert times["fp32"] > 0 and times["bf16"] > 0


def test_a_render_says_what_it_ran_in(content_rgb, style_rgb, unpinned) -> None:
    P._CHOICES[P.machine_key(CPU)] = P.PrecisionChoice("fp32", "fp32: measured (test)")
    r = render(content_rgb, style_rgb, Look(size=32, iterations=1, seed=0), device="cpu")
    assert r.precision == "fp32" and r.precision_reason == "fp32: measured (test)"
    r = render(content_rgb, style_rgb, Look(size=32, iterations=1, seed=0, precision="bf16"), device="cpu")
    assert r.precision == "bf16" and r.precision_reason == "bf16: asked for"
