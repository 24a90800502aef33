"""bench/mattes.py's measures on synthetic pictures (no render): the feathered matte's ramp, guided Grams, the
boundary band and the sky matte."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media import bench_module


@pytest.fixture(scope="module")
def mattes():
    with bench_module("mattes") as module:
        yield module


def test_half_matte_ramp_is_the_feather_wide(mattes):
    m = mattes.half_matte((8, 200), 24)
    assert m.shape == (8, 200) and np.allclose(m, m[0])
    ramp = np.count_nonzero((m[0] < 0.99) & (m[0] > 0.01))
    assert 22 <= ramp <= 26
    assert m[0, 0] > 0.999 and m[0, -1] < 0.001 and abs(m[0, 99] + m[0, 100] - 1) < 1e-5


def test_guided_gram_by_hand(mattes):
    f = torch.arange(1.0, 9.0).reshape(1, 2, 2, 2)  # channels [1 2 3 4] and [5 6 7 8]
    assert torch.allclose(mattes.guided_gram(f, torch.ones(1, 1, 2, 2)), mattes.guided_gram(f, None))
    g = torch.tensor([[[[1.0, 0.0], [0.0, 0.5]]]])
    # weighted positions: (1, 5) and (2, 4); Σg² = 1.25
    want = torch.tensor([[1 + 4, 5 + 8], [5 + 8, 25 + 16]]) / 1.25
    assert torch.allclose(mattes.guided_gram(f, g), want)


def test_boundary_band_finds_a_seam_and_not_a_smooth_picture(mattes):
    rng = np.random.default_rng(0)
    pic = np.repeat(rng.uniform(0.4, 0.6, (64, 128, 1)) * 0.05 + 0.5, 3, axis=2).astype(np.float32)
    matte = mattes.half_matte((64, 128), 8)
    assert mattes.boundary_band(pic, matte, 8)["band_px"] <= 2
    seam = pic.copy()
    seam[:, 60:70] = np.where(np.arange(64)[:, None, None] % 2, 0.0, 1.0)  # a 10 px band of strong edges
    assert mattes.boundary_band(seam, matte, 8)["band_px"] >= 10


def test_sky_matte_keeps_the_bright_top_and_not_a_dark_tower(mattes):
    pic = np.full((48, 96, 3), 0.2, np.float32)
    pic[:20] = 0.9  # sky
    pic[:20, 10:20] = 0.1  # a tower in it
    pic[:20, 50] = 0.3  # a thin cable
    m = mattes.sky_matte(pic, 1e-3)
    assert m[5, 40] > 0.99 and m[5, 50] > 0.99 and m[5, 15] < 0.01 and m[30, 40] < 0.01
