"""Guides in the engine: regions (guided Grams, per-pixel content weight) and temporal targets, as terms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from impasto import Guides, Look, Region, Temporal, evaluate_loss, render
from impasto.errors import UsageError
from impasto.objective.guides import region_shares
from impasto.objective.terms import (
    TEMPORAL_RMS,
    ContentTerm,
    GuidedStyleTerm,
    Scored,
    StyleTerm,
    TemporalTerm,
    WeightedContentTerm,
)


def _scored(features: dict[str, torch.Tensor], image: torch.Tensor | None = None) -> Scored:
    image = image if image is not None else torch.zeros(1, 3, 4, 4)
    return Scored(image, image, features)


def test_guided_gram_matches_a_hand_computed_case():
    gen = torch.Generator().manual_seed(0)
    f = torch.rand(1, 3, 2, 3, generator=gen)
    g = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.25]])[None, None]
    target = torch.rand(3, 3, generator=gen)
    fn, gn = f[0].reshape(3, 6).numpy().astype(np.float64), g.reshape(6).numpy().astype(np.float64)
    gram = sum(gn[p] ** 2 * np.outer(fn[:, p], fn[:, p]) for p in range(6)) / np.sum(gn**2)
    expected = 0.2 * 0.4 * np.sum((gram - target.numpy()) ** 2) / (4 * 3 * 3)
    term = GuidedStyleTerm("relu1_1", target, 0.2, g, 0.4, float(g.pow(2).sum()))
    assert float(term(_scored({"relu1_1": f}))) == pytest.approx(expected, rel=1e-5)


def test_a_guide_of_ones_is_the_plain_style_and_content_terms():
    gen = torch.Generator().manual_seed(1)
    f = torch.rand(1, 4, 5, 6, generator=gen)
    target = torch.rand(4, 4, generator=gen)
    ones = torch.ones(1, 1, 5, 6)
    x = _scored({"relu2_1": f})
    plain = StyleTerm("relu2_1", target, 0.2)(x)
    guided = GuidedStyleTerm("relu2_1", target, 0.2, ones, 1.0, 30.0)(x)
    assert float(guided) == pytest.approx(float(plain), rel=1e-5)
    p = torch.rand(1, 4, 5, 6, generator=gen)
    assert float(WeightedContentTerm("relu2_1", p, 1.0, ones)(x)) == pytest.approx(float(ContentTerm("relu2_1", p)(x)))


def test_later_regions_win_and_shares_sum_to_one():
    a = torch.tensor([[1.0, 1.0, 0.5, 0.0]])[None, None]
    b = torch.tensor([[0.0, 1.0, 0.5, 0.0]])[None, None]
    base, sa, sb = region_shares([a, b])
    assert torch.allclose(base + sa + sb, torch.ones_like(a))
    assert sb[0, 0, 0, 1] == 1 and sa[0, 0, 0, 1] == 0  # where both are 1, the later one has the pixel
    assert float(sa[0, 0, 0, 2]) == pytest.approx(0.25) and float(sb[0, 0, 0, 2]) == pytest.approx(0.5)
    assert base[0, 0, 0, 3] == 1


def test_temporal_term_counts_only_trusted_pixels():
    target = torch.zeros(1, 3, 4, 4)
    image = torch.full((1, 3, 4, 4), 0.1)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    value = TemporalTerm(target, mask, 2.0)(_scored({}, image))
    assert float(value) == pytest.approx(2.0 * 0.5 * 0.01 / TEMPORAL_RMS**2, rel=1e-5)
    assert float(TemporalTerm(target, torch.zeros_like(mask), 2.0)(_scored({}, image))) == 0.0


LOOK = Look(u=4, iterations=5, size=48, seed=3, precision="fp32")


def test_a_matte_of_ones_with_the_looks_u_paints_the_plain_render(content_rgb, style_rgb):
    plain = render(content_rgb, style_rgb, LOOK, device="cpu")
    ones = np.ones(content_rgb.shape[:2], np.float32)
    guided = render(content_rgb, style_rgb, LOOK, device="cpu", guides=Guides(regions=(Region(ones, LOOK.u),)))
    assert np.abs(plain.image - guided.image).max() < 2e-3
    assert guided.history[-1].loss == pytest.approx(plain.history[-1].loss, rel=1e-3)


def test_a_low_u_region_keeps_its_content_while_the_rest_paints(content_rgb, style_rgb):
    h, w = content_rgb.shape[:2]
    matte = np.zeros((h, w), np.float32)
    matte[:, : w // 2] = 1
    look = LOOK.model_copy(update={"u": 6.0, "iterations": 8, "init": "noise"})
    out = render(content_rgb, style_rgb, look, device="cpu", guides=Guides(regions=(Region(matte, 0.0, name="fg"),))).image
    small = render(content_rgb, style_rgb, look.model_copy(update={"size": 48}), device="cpu").image
    ch = np.asarray(
        torch.nn.functional.interpolate(torch.from_numpy(content_rgb).permute(2, 0, 1)[None], size=out.shape[:2],
                                        mode="area")[0].permute(1, 2, 0))
    left = np.abs(out[:, : out.shape[1] // 2] - ch[:, : out.shape[1] // 2]).mean()
    right = np.abs(out[:, out.shape[1] // 2:] - ch[:, out.shape[1] // 2:]).mean()
    assert left < right  # u 0 holds the content; u 6 paints it away
    assert out.shape == small.shape


def test_a_region_style_of_its_own_changes_only_its_region(content_rgb, style_rgb):
    h, w = content_rgb.shape[:2]
    matte = np.zeros((h, w), np.float32)
    matte[: h // 2] = 1
    other = np.ascontiguousarray(style_rgb[..., ::-1])  # another painting: channels swapped
    look = LOOK.model_copy(update={"iterations": 6})
    a = render(content_rgb, style_rgb, look, device="cpu", guides=Guides(regions=(Region(matte, 4.0, name="sky"),))).image
    b = render(content_rgb, style_rgb, look, device="cpu",
               guides=Guides(regions=(Region(matte, 4.0, (other,), (1.0,), "sky"),))).image
    top = np.abs(a[: a.shape[0] // 2 - 6] - b[: a.shape[0] // 2 - 6]).mean()
    bottom = np.abs(a[a.shape[0] // 2 + 6:] - b[a.shape[0] // 2 + 6:]).mean()
    assert top > 1.5 * bottom


def test_temporal_guide_holds_the_picture_to_its_target(content_rgb, style_rgb):
    target = render(content_rgb, style_rgb, LOOK.model_copy(update={"seed": 9}), device="cpu").image
    mask = np.ones(target.shape[:2], np.float32)
    free = render(content_rgb, style_rgb, LOOK, device="cpu", init=target).image
    held = render(content_rgb, style_rgb, LOOK, device="cpu", init=target,
                  guides=Guides(temporal=(Temporal(target, mask, 50.0),))).image
    assert np.abs(held - target).mean() < np.abs(free - target).mean()


@pytest.mark.parametrize("update", [{"levels": 2}, {"tile": 32, "tile_overlap": 8, "size": 64}])
def test_guides_work_with_levels_and_tiles(content_rgb, style_rgb, update):
    h, w = content_rgb.shape[:2]
    matte = np.zeros((h, w), np.float32)
    matte[:, : w // 2] = 1
    target = np.full((h, w, 3), 0.5, np.float32)
    look = LOOK.model_copy(update={"iterations": 3, **update})
    guides = Guides(regions=(Region(matte, 2.0, name="fg"),), temporal=(Temporal(target, matte, 1.0),))
    out = render(content_rgb, style_rgb, look, device="cpu", guides=guides)
    assert out.image.shape[:2] == (look.size, look.size) or max(out.image.shape[:2]) == look.size
    assert np.isfinite(out.image).all()


def test_guides_of_another_aspect_are_one_sentence(content_rgb, style_rgb):
    matte = np.ones((10, 40), np.float32)
    with pytest.raises(UsageError, match="region 'fg' matte is 40×10"):
        render(content_rgb, style_rgb, LOOK, device="cpu", guides=Guides(regions=(Region(matte, 2.0, name="fg"),)))


def test_evaluate_loss_scores_with_regions(content_rgb, style_rgb):
    matte = np.zeros(content_rgb.shape[:2], np.float32)
    matte[:, :20] = 1
    noisy = np.clip(content_rgb + np.random.default_rng(0).normal(0, 0.1, content_rgb.shape), 0, 1).astype(np.float32)
    plain = evaluate_loss(noisy, content_rgb, style_rgb, LOOK)
    low = evaluate_loss(noisy, content_rgb, style_rgb, LOOK, guides=Guides(regions=(Region(matte, 2.0),)))
    # Inside the matte u is 2 below the look's: its content counts 100 times, so the content group grows.
    assert low["content"] > 5 * plain["content"] > 0
    assert low["style"] != plain["style"]
