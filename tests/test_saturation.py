"""Where u stops changing the picture at a size: measured with forward passes, warned about by preview and sweep."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from impasto.api import render
from impasto.cli import app
from impasto.look import Look
from impasto.lookdev import saturation as sat_module
from impasto.lookdev.preview import preview
from impasto.lookdev.saturation import Saturation, headroom, measure, preview_warning, sweep_warning
from impasto.lookdev.sweep import check_saturation, plan_sweep

runner = CliRunner()


@pytest.fixture(scope="module")
def sat64(content_rgb: np.ndarray, style_rgb: np.ndarray) -> Saturation:
    sat = measure(content_rgb, [style_rgb], Look(size=64), device="cpu")
    assert sat is not None
    return sat


def test_the_balance_is_measured_at_the_size_and_follows_k(content_rgb: np.ndarray, style_rgb: np.ndarray,
                                                           sat64: Saturation) -> None:
    assert sat64.edge == 64 and sat64.content_of_painting > 0 and sat64.style_of_plate > 0
    assert sat64.u_balance == pytest.approx(
        math.log10(sat64.content_of_painting / sat64.style_of_plate) - 2 * math.log10(64 / 512))
    raw = measure(content_rgb, [style_rgb], Look(size=64, raw_ratio=True), device="cpu")
    k0 = measure(content_rgb, [style_rgb], Look(size=64, k=0.0), device="cpu")
    # With the ratio scaled by (64/512)**2, the same balance sits 2 × log10(8) higher in u.
    assert sat64.u_balance - raw.u_balance == pytest.approx(2 * math.log10(8), abs=1e-6)
    assert k0.u_balance == pytest.approx(raw.u_balance, abs=1e-6)
    assert sat64.u_saturates == pytest.approx(sat64.u_balance + headroom(64))
    # A painting identical to the plate has nothing to balance: no measurement, no warning.
    assert measure(content_rgb, [content_rgb], Look(size=64), device="cpu") is None
    assert preview_warning(None, 9.0) is None and sweep_warning([None], [9.0]) is None


def test_headroom_grows_with_the_size_and_the_range_is_on_half_steps() -> None:
    assert headroom(512) == pytest.approx(4.25)
    assert headroom(1024) == pytest.approx(5.75)
    assert headroom(160) == pytest.approx(4.25 + 1.5 * math.log2(160 / 512))
    assert headroom(32) == 1.0  # the floor: below 128 px an extrapolation
    s = Saturation(160, 1.73, 3.46, 0.23, 1.0, 1.0)
    assert s.suggested() == (0.0, 3.5) and s.range_text() == "0:3.5:0.5"
    assert s.above([2, 3.5, 3.7, 4, 6]) == [4, 6]  # within a quarter above is not warned about
    line = sweep_warning([s, Saturation(160, 3.0, 4.7, 1.5, 1.0, 1.0)], [2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6])
    assert line == ("at 160 px u above 3.5 changes little for this plate and painting (measured: content and style "
                    "balance at u 1.7 here), so the cells at u 4, 4.5, 5, 5.5, 6 will look alike; try --u 0:3.5:0.5 "
                    "or a larger --size.")
    assert "the cell at u 6 will look much like u 3.5" in sweep_warning([s], [3, 6])
    assert sweep_warning([s], [0, 1, 2, 3]) is None


def test_above_the_saturation_u_changes_the_picture_less(content_rgb: np.ndarray, style_rgb: np.ndarray,
                                                         sat64: Saturation) -> None:
    """The measured rule against renders: moving u by 2 above u_saturates moves the picture (its distance from the
    plate) less than moving it by 2 from the photo end towards the balance (measured: 0.007 against 0.110)."""
    def away(u: float) -> float:
        img = render(content_rgb, style_rgb, Look(u=u, size=64, iterations=24, seed=0), device="cpu").image
        plate = render(content_rgb, style_rgb, Look(u=-2, size=64, iterations=1, seed=0), device="cpu").image
        return float(np.sqrt(((img - plate) ** 2).mean()))

    low = away(sat64.u_photo + 2) - away(sat64.u_photo)
    high = away(sat64.u_saturates + 2) - away(sat64.u_saturates)
    assert low > 0 and high < 0.25 * low, (low, high)


def test_preview_returns_the_warning_and_the_cli_prints_it(tmp_path: Path, images: tuple[Path, Path],
                                                          sat64: Saturation) -> None:
    content, style = images
    high = math.ceil(sat64.u_saturates) + 2
    pr = preview(content, style, Look(u=high, size=128, iterations=1, seed=0), scale=0.5, device="cpu")
    assert pr.saturation is not None and pr.saturation.edge == 64
    assert pr.warning and pr.warning.startswith(f"at 64 px u above {sat64.u_saturates:.1f} changes little")
    assert f"this u {high:g} preview looks much like u" in pr.warning
    ok = math.floor(sat64.u_saturates) - 1
    assert preview(content, style, Look(u=ok, size=128, iterations=1, seed=0), scale=0.5, device="cpu").warning is None
    crop = preview(content, style, Look(u=high, size=128, iterations=1, seed=0), crop=(0, 0, 64, 64), device="cpu")
    assert crop.saturation is None and crop.warning is None  # a crop saturates as the final does

    r = runner.invoke(app, ["preview", str(content), str(style), "--final-size", "128", "--scale", "0.5",
                            "--iterations", "1", "--u", str(high), "--seed", "1", "--device", "cpu",
                            "-o", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    assert "warning: at 64 px u above" in r.output and "a --crop at full size" in r.output


def test_sweep_plan_carries_the_warning_measured_once(tmp_path: Path, images: tuple[Path, Path],
                                                     sat64: Saturation, monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = images
    top = math.ceil(sat64.u_saturates)
    us = [0.0, float(top + 1), float(top + 2)]
    plan = plan_sweep(content, [style], tmp_path / "sw", Look(size=64, iterations=1, seed=0), us=us)
    assert plan.warning is None  # planning measures nothing
    line = check_saturation(plan, "cpu")
    assert line == plan.warning and f"so the cells at u {top + 1:g}, {top + 2:g} will look alike" in line
    assert f"try --u {plan.saturation[0].range_text()}" in line

    def boom(*_a, **_k):
        raise AssertionError("measured twice")

    monkeypatch.setattr("impasto.lookdev.sweep.measure", boom)
    assert check_saturation(plan, "cpu") == line
    monkeypatch.setattr("impasto.lookdev.sweep.measure", sat_module.measure)
    calm = plan_sweep(content, [style], tmp_path / "sw2", Look(size=64, iterations=1, seed=0), us=[0.0, 0.5])
    assert check_saturation(calm, "cpu") is None
