"""Style targets in tiles: the same Grams as the whole image, blends kept, the memory estimate consistent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import impasto
from impasto.features.net import feature_net
from impasto.io.tensors import resize, to_tensor
from impasto.objective import targets
from impasto.objective.losses import STYLE_LAYERS, gram

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def net():
    return feature_net("vgg16", None, "max", "cpu")


@pytest.fixture(scope="module")
def painting() -> torch.Tensor:
    """A 176×200 photo: neither side a multiple of 16, so the floored edges of the deep layers are exercised."""
    from skimage import data

    return resize(to_tensor(data.coffee().astype(np.float32) / 255, CPU), (176, 200))


def whole_grams(net, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference: every style layer of the whole image at once, as the engine always computed them."""
    with torch.inference_mode():
        return {k: gram(f) / (f.shape[2] * f.shape[3]) for k, f in net(image, STYLE_LAYERS).items()}


def rel_errors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float((a[k] - b[k]).norm() / b[k].norm()) for k in b}


def test_tiled_grams_equal_whole_grams(net, painting) -> None:
    ref = whole_grams(net, painting)
    halo = targets.default_halo("vgg16", STYLE_LAYERS)
    max_pixels = 30_000
    assert len(targets.tile_grid(176, 200, max_pixels, halo)) >= 4
    tiled = targets.style_grams(net, painting, STYLE_LAYERS, max_pixels=max_pixels)
    assert set(tiled) == set(STYLE_LAYERS)
    assert all(g.dtype == torch.float32 and g.shape == ref[k].shape for k, g in tiled.items())
    errors = rel_errors(tiled, ref)
    assert max(errors.values()) < 1e-4, errors


def test_halo_too_narrow_for_relu5_1_shows(net, painting) -> None:
    # 16 px of context covers relu1_1..relu3_1 but not relu5_1's reach: the check above can tell.
    tiled = targets.style_grams(net, painting, STYLE_LAYERS, max_pixels=(64 + 32) ** 2, halo=16)
    errors = rel_errors(tiled, whole_grams(net, painting))
    assert errors["relu3_1"] < 1e-4
    assert errors["relu5_1"] > 1e-2


def test_whole_path_is_the_engines_old_result(net, painting) -> None:
    ref = whole_grams(net, painting)
    whole = targets.style_grams(net, painting, STYLE_LAYERS, max_pixels=None)
    assert all(torch.equal(whole[k], ref[k]) for k in ref)


def test_free_memory_decides_tiling(net, painting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Free memory for about 173×173 pixels per pass (style_grams leaves half of what is free to the render).
    free = 2 * (targets.estimate_style_memory(173, 173, "vgg16") - targets.OVERHEAD)
    assert targets.style_tile_pixels(free // 2, "vgg16") < 176 * 200
    monkeypatch.setattr(targets, "available_memory", lambda device: free)
    calls: list[int] = []
    real = targets._grams_streamed
    monkeypatch.setattr(targets, "_grams_streamed", lambda *a, **k: calls.append(1) or real(*a, **k))
    tiled = targets.style_grams(net, painting, STYLE_LAYERS)
    assert len(calls) >= 4
    assert max(rel_errors(tiled, whole_grams(net, painting)).values()) < 1e-4


def test_blend_weights_respected(net, painting) -> None:
    other = painting.flip(-1).roll(37, dims=-2) ** 2  # a different image of another size below
    other = resize(other, (160, 144))
    a, b = whole_grams(net, painting), whole_grams(net, other)
    blended = targets.style_targets(net, [painting, other], [0.25, 0.75], max_pixels=(64 + 128) ** 2 - 1)
    for k in STYLE_LAYERS:
        expect = 0.25 * a[k] + 0.75 * b[k]
        assert float((blended[k] - expect).norm() / expect.norm()) < 1e-4
        assert blended[k].dtype == torch.float32 and not blended[k].is_inference()
    only_b = targets.style_targets(net, [painting, other], [0.0, 1.0])
    assert all(torch.allclose(only_b[k], b[k]) for k in STYLE_LAYERS)


def test_engine_uses_the_same_targets(net, painting) -> None:
    old = whole_grams(net, painting)
    new = targets.style_targets(net, [painting], [1.0])
    assert all(torch.equal(new[k], old[k]) for k in STYLE_LAYERS)


def test_estimate_and_tile_size_agree() -> None:
    small, big = (targets.estimate_style_memory(h, h, "vgg16") for h in (512, 2048))
    assert 0 < small < big
    assert targets.estimate_style_memory(2048, 2048, "vgg16", "bf16") < big
    free = 3 * 2**30
    px = targets.style_tile_pixels(free, "vgg16")
    side = int(px**0.5)
    # The process's own overhead is already paid when free memory is read.
    pass_bytes = [targets.estimate_style_memory(e, e, "vgg16") - targets.OVERHEAD for e in (side, side + 8)]
    assert pass_bytes[0] <= free < pass_bytes[1]
    assert targets.style_tile_pixels(50 * 2**20, "vgg16") == 0  # not even the weights fit
    assert targets.context_radius("vgg16", "relu5_1") == 58
    assert targets.context_radius("vgg19", "relu5_1") == 2 + 4 + 16 + 32 + 16  # 4-conv blocks reach further


def test_engine_still_renders(content_rgb, style_rgb) -> None:
    out = impasto.stylize(content_rgb, style_rgb, iterations=2, size=48, device="cpu", seed=3)
    assert out.shape[:2] == (48, 48) and out.dtype == np.float32 and np.isfinite(out).all()
