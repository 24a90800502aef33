"""Fast paths agree with the reference: bf16, coarse-to-fine and tiles (behaviour only, never timings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from impasto.api import evaluate_loss, render
from impasto.features.precision import resolve_precision
from impasto.look import Look
from impasto.optim.memory import estimate_memory, plan_tile
from impasto.optim.strategies import level_iterations, level_sizes, tile_starts

SIZE = 64


@pytest.fixture(scope="module")
def reference(content_rgb, style_rgb):
    return render(content_rgb, style_rgb, Look(u=4, iterations=20, size=SIZE, seed=0), device="cpu")


def test_precision_resolves_per_device(monkeypatch) -> None:
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"  # pinned by conftest
    monkeypatch.setenv("IMPASTO_AUTO_PRECISION", "tf32")  # TF32 exists only on CUDA
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "tf32"
    assert resolve_precision("tf32", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_bf16_path_runs_and_agrees_with_fp32(content_rgb, style_rgb) -> None:
    # bf16 is slow on CPUs without AMX: a smaller render keeps the test short
    look = Look(u=4, iterations=10, size=48, seed=0)
    reference = render(content_rgb, style_rgb, look, device="cpu")
    r = render(content_rgb, style_rgb, look.model_copy(update={"precision": "bf16"}), device="cpu")
    assert r.image.shape == reference.image.shape
    assert len(r.history) == 10 and r.history[-1].loss < r.history[0].loss / 3
    ours = evaluate_loss(r.image, content_rgb, style_rgb, look)["total"]
    ref = evaluate_loss(reference.image, content_rgb, style_rgb, look)["total"]
    assert ours < ref * 1.15
    assert np.abs(r.image - reference.image).mean() < 0.05


def test_bf16_stall_goes_on_in_fp32_and_says_where(content_rgb, style_rgb, monkeypatch) -> None:
    import impasto.optim.solve as solver
    import impasto.optim.strategies as strategies

    look = Look(u=4, iterations=8, size=48, seed=0, precision="bf16")
    # A tolerance no iteration can beat: iterations 2 and 3 count as flat: the stall is at 3, fp32 from 4 on.
    monkeypatch.setattr(solver, "BF16_STALL_TOLERANCE", 1.0)
    r = render(content_rgb, style_rgb, look, device="cpu")
    assert r.fp32_from == 3
    assert [p.iteration for p in r.history] == list(range(1, 9))
    assert r.history[-1].loss < r.history[2].loss  # fp32 went on improving from where bf16 stopped
    # Coarse-to-fine: a stall at the coarse level leaves the finer level in fp32 (it would stall again).
    precisions = []
    build = strategies.build_objective
    monkeypatch.setattr(strategies, "build_objective", lambda look, *a, **k: precisions.append(look.precision) or build(look, *a, **k))
    r = render(content_rgb, style_rgb, look.model_copy(update={"levels": 2, "size": 64}), device="cpu")
    assert r.fp32_from == 3 and precisions[-2:] == ["bf16", "fp32"]
    monkeypatch.setattr(solver, "BF16_STALL_TOLERANCE", 1e-5)
    assert render(content_rgb, style_rgb, look.model_copy(update={"precision": "fp32"}), device="cpu").fp32_from is None


def test_evaluate_loss_matches_the_render_history(content_rgb, style_rgb, reference) -> None:
    # The image as written is the last iterate clamped; its loss is the last one the render reported.
    got = evaluate_loss(reference.image, content_rgb, style_rgb, Look(u=4, size=SIZE))
    assert got["total"] == pytest.approx(reference.history[-1].loss, rel=1e-3)


def test_coarse_to_fine_runs_and_its_loss_falls(content_rgb, style_rgb, reference) -> None:
    assert level_sizes(96, 64, 3) == [(24, 16), (48, 32), (96, 64)][-len(level_sizes(96, 64, 3)):]
    assert level_sizes(256, 192, 3) == [(64, 48), (128, 96), (256, 192)]
    assert level_iterations(70, 3) == [40, 20, 10] and sum(level_iterations(256, 3)) == 256
    snaps = []
    look = Look(u=4, iterations=14, size=SIZE, seed=0, levels=2)
    r = render(content_rgb, style_rgb, look, device="cpu", snapshots=[5, 14], on_snapshot=lambda i, im: snaps.append(i))
    assert [p.iteration for p in r.history] == list(range(1, 15))
    assert snaps == [5, 14] and r.snapshots[5].shape == r.image.shape == (SIZE, SIZE, 3)
    fine = [p.loss for p in r.history[level_iterations(14, 2)[0]:]]
    assert fine[-1] < fine[0]
    ours = evaluate_loss(r.image, content_rgb, style_rgb, Look(u=4, size=SIZE))["total"]
    start = evaluate_loss(content_rgb, content_rgb, style_rgb, Look(u=4, size=SIZE))["total"]
    assert ours < start / 5


def test_tile_layout_covers_with_overlap() -> None:
    assert tile_starts(64, 40, 16) == [0, 24]
    assert tile_starts(4096, 1024, 64) == [0, 768, 1536, 2304, 3072]
    assert tile_starts(100, 200, 16) == [0]
    cpu = torch.device("cpu")
    assert plan_tile(64, 64, Look(size=64, tile=40, tile_overlap=16), cpu) == 40
    assert plan_tile(64, 64, Look(size=64), cpu) == 0
    assert estimate_memory(512, 512, precision="bf16") < estimate_memory(512, 512)


def _seam_gradient(img: np.ndarray, at: int, axis: int) -> tuple[float, float]:
    """Mean absolute step across the line `at` versus the median step across every other line."""
    d = np.abs(np.diff(img, axis=axis)).mean(axis=(1 - axis, 2))  # one value per line along axis
    others = np.delete(d, [at - 2, at - 1, at])
    return float(d[at - 1]), float(np.median(others))


def test_four_tiles_leave_no_seam_and_agree_with_the_whole_image(content_rgb, style_rgb, reference) -> None:
    look = Look(u=4, iterations=20, size=SIZE, seed=0, tile=40, tile_overlap=16)
    r = render(content_rgb, style_rgb, look, device="cpu")
    assert r.image.shape == reference.image.shape
    assert r.history[-1].iteration == 20
    # tiles start at 0 and 24 on both axes: the overlap is 24..40, centre 32
    for axis in (0, 1):
        across, elsewhere = _seam_gradient(r.image, 32, axis)
        assert across <= 2.0 * elsewhere
    ours = evaluate_loss(r.image, content_rgb, style_rgb, Look(u=4, size=SIZE))["total"]
    ref = evaluate_loss(reference.image, content_rgb, style_rgb, Look(u=4, size=SIZE))["total"]
    start = evaluate_loss(content_rgb, content_rgb, style_rgb, Look(u=4, size=SIZE))["total"]
    # 40 px tiles at 64 px are mostly border, yet the frame's loss stays near the whole-image render's
    assert ours < start / 5 and ours < ref * 1.6
    assert np.abs(r.image.mean(axis=(0, 1)) - reference.image.mean(axis=(0, 1))).max() < 0.05
    # pixels differ about as much as 20 and 60 iterations of one whole-image render do (0.11)
    assert np.abs(r.image - reference.image).mean() < 0.16


def test_cli_takes_the_performance_options(images, tmp_path) -> None:
    from typer.testing import CliRunner

    from impasto.cli import app

    content, style = images
    out = tmp_path / "out.png"
    result = CliRunner().invoke(app, ["stylize", str(content), str(style), "-o", str(out), "--iterations", "2",
                                      "--size", "48", "--device", "cpu", "--levels", "2", "--tile", "40",
                                      "--tile-overlap", "8", "--precision", "fp32", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    bad = CliRunner().invoke(app, ["stylize", str(content), str(style), "-o", str(tmp_path / "b.png"), "--levels", "9"])
    assert bad.exit_code == 2 and not (tmp_path / "b.png").exists()
