from __future__ import annotations

import numpy as np
import pytest

import impasto
from impasto.api import render
from impasto.errors import UsageError
from impasto.look import Look
from impasto.objective.controls import REFERENCE_EDGE, style_ratio
from impasto.optim.memory import estimate_memory


def test_ratio_is_ten_to_the_u_at_512_and_scales_with_size() -> None:
    assert style_ratio(4, REFERENCE_EDGE) == pytest.approx(1e4)
    assert style_ratio(4, 1024, k=1) == pytest.approx(2e4)
    assert style_ratio(4, 256, k=1) == pytest.approx(5e3)
    assert style_ratio(4, 256, k=2) == pytest.approx(2.5e3)
    assert style_ratio(4, 2048, raw=True) == pytest.approx(1e4)


def test_losses_fall_by_a_large_factor(content_rgb, style_rgb) -> None:
    r = render(content_rgb, style_rgb, Look(u=4, iterations=20, size=64, seed=0), device="cpu")
    assert len(r.history) == 20
    assert r.history[-1].loss < r.history[0].loss / 5
    losses = [p.loss for p in r.history]
    assert all(b <= a * 1.0001 for a, b in zip(losses, losses[1:]))  # L-BFGS with a line search never goes uphill
    assert r.image.shape == (64, 64, 3) and r.image.dtype == np.float32
    assert 0.0 <= r.image.min() and r.image.max() <= 1.0


def test_raising_u_lowers_style_relative_to_content(content_rgb, style_rgb) -> None:
    balance = []
    for u in (2.0, 4.0, 6.0):
        r = render(content_rgb, style_rgb, Look(u=u, iterations=15, size=48, seed=0), device="cpu")
        last = r.history[-1]
        balance.append((last.style / r.ratio) / max(last.content, 1e-9))
    assert balance[0] > balance[1] > balance[2]


def test_seed_makes_cpu_runs_bit_identical(content_rgb, style_rgb) -> None:
    look = Look(u=4, iterations=5, size=48, seed=7, init="noise")
    a = render(content_rgb, style_rgb, look, device="cpu").image
    b = render(content_rgb, style_rgb, look, device="cpu").image
    c = render(content_rgb, style_rgb, look.model_copy(update={"seed": 8}), device="cpu").image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unseeded_render_records_its_seed(content_rgb, style_rgb) -> None:
    r = render(content_rgb, style_rgb, Look(iterations=2, size=48), device="cpu")
    assert isinstance(r.look.seed, int)
    again = render(content_rgb, style_rgb, r.look, device="cpu")
    assert np.array_equal(r.image, again.image)


def test_adam_and_options_run(content_rgb, style_rgb) -> None:
    r = render(content_rgb, [style_rgb, content_rgb], Look(iterations=20, size=48, seed=1, optimizer="adam", lr=0.05,
                                                          style_weights=[0.7, 0.3], pooling="avg", tv_weight=1e3,
                                                          preserve_color="luminance"), device="cpu")
    assert r.history[-1].loss < r.history[0].loss
    m = render(content_rgb, style_rgb, Look(iterations=3, size=48, seed=1, preserve_color="match", network="vgg19"),
               device="cpu")
    assert m.image.shape == (48, 48, 3)


def test_python_api_accepts_uint8_and_returns_float(content_rgb, style_rgb) -> None:
    out = impasto.stylize((content_rgb * 255).astype(np.uint8), style_rgb, u=3.0, iterations=2, size=40, seed=0,
                          device="cpu")
    assert out.shape == (40, 40, 3) and out.dtype == np.float32


def test_bad_api_values_are_one_sentence(content_rgb, style_rgb) -> None:
    with pytest.raises(UsageError, match="u must lie between"):
        impasto.stylize(content_rgb, style_rgb, u=11, device="cpu")
    with pytest.raises(UsageError, match="style-weights has 1 values for 2"):
        render(content_rgb, [style_rgb, style_rgb], Look(style_weights=[1.0], iterations=1, size=48), device="cpu")
    with pytest.raises(UsageError, match="Unknown device"):
        render(content_rgb, style_rgb, Look(iterations=1, size=48), device="tpu")
    with pytest.raises(UsageError, match="needs at least 32 px"):
        impasto.stylize(np.zeros((20, 20, 3), np.float32), style_rgb, device="cpu")


def test_memory_estimate_grows_with_pixels() -> None:
    small, big = estimate_memory(512, 512), estimate_memory(1024, 1024)
    assert 3.0 < big / small < 4.5
    assert estimate_memory(2160, 4096) > 8 * 2**30
