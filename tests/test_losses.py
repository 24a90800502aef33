"""The loss that defines u, checked against hand-computed values, and one definition shared by the engine and
the fast model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from impasto.api import evaluate_loss
from impasto.errors import UsageError
from impasto.look import Look
from impasto.objective.controls import style_ratio
from impasto.objective.losses import content_layer_loss, gram, style_layer_loss, tv_loss
from impasto.objective.objective import (
    Objective,
    blend_weights,
    build_objective,
    group_sums,
)
from impasto.objective.terms import (
    AnchorTerm,
    ContentTerm,
    RangeTerm,
    Scored,
    StyleTerm,
    TVTerm,
)


def _f(values, c: int, h: int, w: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, c, h, w)


def test_content_loss_is_half_the_squared_difference() -> None:
    f = _f([1, 2, 3, 4], 1, 2, 2)
    assert float(content_layer_loss(f, torch.zeros_like(f))) == 15.0  # ½ (1 + 4 + 9 + 16)
    assert float(content_layer_loss(f, f)) == 0.0


def test_gram_and_style_loss_by_hand() -> None:
    f = _f([1, 2, 3, 4], 2, 1, 2)  # channel 0: (1, 2), channel 1: (3, 4)
    assert gram(f).tolist() == [[5.0, 11.0], [11.0, 25.0]]
    # ‖G − 0‖² / (4 N² M²) with N = 2 channels, M = 2 positions: (25 + 121 + 121 + 625) / 64
    assert float(style_layer_loss(f, torch.zeros(2, 2))) == pytest.approx(892 / 64)
    assert float(style_layer_loss(f, gram(f))) == 0.0
    # channels_last memory gives the same Gram
    assert gram(f.contiguous(memory_format=torch.channels_last)).tolist() == gram(f).tolist()


def test_tv_loss_by_hand() -> None:
    img = _f([0, 1, 2, 4], 1, 2, 2)
    assert float(tv_loss(img)) == 18.0  # across: 1² + 2², down: 2² + 3²


def test_terms_weigh_and_read_their_layer() -> None:
    f = _f([1, 2, 3, 4], 2, 1, 2)
    x = Scored(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), {"relu1_1": f})
    assert float(ContentTerm("relu1_1", torch.zeros_like(f), 0.5)(x)) == 0.5 * float(content_layer_loss(f, 0 * f))
    # the style target is the Gram per position: the term compares G with target × M
    per_position = gram(f) / 2
    assert float(StyleTerm("relu1_1", per_position, 0.2)(x)) == 0.0
    assert float(StyleTerm("relu1_1", torch.zeros(2, 2), 0.2)(x)) == pytest.approx(0.2 * 892 / 64)
    stray = torch.tensor([[[[1.5, -0.5], [0.5, 0.5]]]])
    assert float(RangeTerm(2.0)(Scored(stray, stray.clamp(0, 1), {}))) == pytest.approx(2.0 * (0.25 + 0.25) / 4)
    sums = group_sums([ContentTerm("relu1_1", torch.zeros_like(f), 1.0), StyleTerm("relu1_1", per_position, 0.2),
                       TVTerm()], Scored(f[:, :1], f[:, :1], {"relu1_1": f}))
    assert set(sums) == {"content", "style", "tv"} and float(sums["content"]) == 15.0


def test_objective_total_is_content_plus_ratio_times_style(content_rgb, style_rgb) -> None:
    look = Look(u=3.0, size=48, tv_weight=2.0)
    dev = torch.device("cpu")
    obj = build_objective(look, dev, content_rgb, [style_rgb], [1.0], (48, 48))
    assert obj.ratio == style_ratio(3.0, 48)
    img = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    ev = obj.evaluate(img)
    feats = obj.net(img, obj.layers)
    c = sum(t.weight * content_layer_loss(feats[t.layer], t.target) for t in obj.terms if t.group == "content")
    s = sum(t.weight * style_layer_loss(feats[t.layer], t.target * feats[t.layer].shape[-1] * feats[t.layer].shape[-2])
            for t in obj.terms if t.group == "style")
    assert float(ev.groups["content"]) == pytest.approx(float(c), rel=1e-6)
    assert float(ev.groups["style"]) == pytest.approx(obj.ratio * float(s), rel=1e-6)
    assert float(ev.groups["tv"]) == pytest.approx(2.0 * float(tv_loss(img)), rel=1e-6)
    assert float(ev.total) == pytest.approx(float(c) + obj.ratio * float(s) + 2.0 * float(tv_loss(img)), rel=1e-6)
    # the range term sits outside the loss: it is a constraint, added after the normalisation
    assert len(ev.constraints) == 1 and float(ev.objective(float(ev.total))) == pytest.approx(1.0, rel=1e-6)


def test_added_terms_need_no_solver_change(content_rgb, style_rgb) -> None:
    """A new group (as temporal and matte terms will be) shows in the breakdown without touching the solver."""
    from impasto.optim.solve import solve

    dev = torch.device("cpu")
    base = build_objective(Look(size=32), dev, content_rgb, [style_rgb], [1.0], (32, 32))
    target = torch.full((1, 3, 8, 8), 0.5)

    class Grey(AnchorTerm):
        group = "grey"

    obj = base.with_terms(Grey(target, 1e12), grey=1.0)
    assert obj.groups() == ["content", "style", "tv", "grey"]
    seen = []
    start = torch.full((1, 3, 32, 32), 0.2)
    solved = solve(obj, start, 3, report=lambda i, terms, x: seen.append(terms.tolist()))
    assert solved.done == 3 and len(seen[0]) == 2 + 4  # objective, total, four groups
    without = solve(base, start, 3)
    # the added term pulls the picture towards grey
    assert abs(float(solved.image.mean()) - 0.5) < abs(float(without.image.mean()) - 0.5)


def test_blend_weights_are_checked_everywhere(content_rgb, style_rgb) -> None:
    assert blend_weights([1, 3], 2) == [0.25, 0.75]
    with pytest.raises(UsageError, match="2 values for 1"):
        blend_weights([1, 1], 1)
    with pytest.raises(UsageError, match="2 values for 1"):
        evaluate_loss(content_rgb, content_rgb, style_rgb, Look(size=32, style_weights=[1, 1]))


def test_fast_model_loss_and_engine_agree(content_rgb, style_rgb) -> None:
    """The fast model trains on the engine's own loss: same image, same u, same numbers."""
    from impasto.fast.loss import GatysLoss, score

    look = Look(u=4.0, size=64)
    content = content_rgb[:64, :64].copy()
    image = np.clip(content + 0.1 * np.sin(np.arange(64))[None, :, None], 0, 1).astype(np.float32)
    engine = evaluate_loss(image, content, style_rgb, look)
    fast = score(GatysLoss(look, [style_rgb], 64, torch.device("cpu")), image, content, 4.0)
    for key in ("content", "style", "total"):
        assert fast[key] == pytest.approx(engine[key], rel=1e-5), key


def test_objective_is_not_mutated_by_precision(content_rgb, style_rgb) -> None:
    obj = build_objective(Look(size=32, precision="bf16"), torch.device("cpu"), content_rgb, [style_rgb], [1.0],
                          (32, 32))
    fp32 = obj.with_precision("fp32")
    assert isinstance(fp32, Objective) and obj.precision == "bf16" and fp32.precision == "fp32"
