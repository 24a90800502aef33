"""Previews (scaled and cropped), the ratio's size scaling, and the calibration of k (tiny images, few iterations)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from impasto.api import render
from impasto.cli import app
from impasto.look import Look, load_look
from impasto.lookdev.preview import check_box, crop_ratio, parse_box, preview
from impasto.objective.controls import style_ratio

runner = CliRunner()


def _balance(content: np.ndarray, style: np.ndarray, size: int, **look: object) -> float:
    r = render(content, style, Look(u=2.0, size=size, iterations=4, seed=0, **look), device="cpu")
    last = r.history[-1]
    return math.log10(last.style / last.content)


def test_scaled_ratio_keeps_the_balance_across_sizes(content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    # style/content balance at 48 and 96 px: with the ratio scaled by size it agrees better than with 10**u raw
    scaled = abs(_balance(content_rgb, style_rgb, 48) - _balance(content_rgb, style_rgb, 96))
    raw = abs(_balance(content_rgb, style_rgb, 48, raw_ratio=True) - _balance(content_rgb, style_rgb, 96, raw_ratio=True))
    assert scaled < 0.75 * raw


def test_crop_ratio_is_the_finals_ratio_times_the_pixel_share() -> None:
    look = Look(u=4.0, size=2048, k=1.5)
    full = style_ratio(4.0, 2048, 1.5)
    assert crop_ratio(look, (1536, 2048), (512, 512)) == pytest.approx(full * 512 * 512 / (1536 * 2048))
    assert crop_ratio(look.model_copy(update={"raw_ratio": True}), (1536, 2048), (512, 512)) == 1e4


def test_bad_boxes_are_one_sentence() -> None:
    from impasto.errors import UsageError

    assert parse_box("1,2,3,4") == (1, 2, 3, 4)
    for text in ("1,2,3", "a,b,c,d"):
        with pytest.raises(UsageError, match="four numbers"):
            parse_box(text)
    with pytest.raises(UsageError, match="reversed"):
        check_box((50, 10, 40, 60), 96, 96)
    with pytest.raises(UsageError, match="outside"):
        check_box((0, 0, 100, 40), 96, 96)
    with pytest.raises(UsageError, match="smaller than 32"):
        check_box((0, 0, 20, 40), 96, 96)


def test_preview_api_scale_and_crop(content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    look = Look(u=3.0, size=96, iterations=20, seed=1)
    pr = preview(content_rgb, style_rgb, look, scale=0.5, iterations=2, device="cpu")
    assert max(pr.result.image.shape[:2]) == 48 and len(pr.result.history) == 2
    assert pr.ratio == pytest.approx(style_ratio(3.0, 48, look.k))
    assert pr.final_look.size == 96 and pr.final_look.iterations == 20 and pr.final_look.seed == 1
    assert pr.predicted_final_seconds > 0
    pc = preview(content_rgb, style_rgb, look, crop=(10, 20, 58, 60), iterations=2, device="cpu")
    assert pc.result.image.shape == (40, 48, 3)
    assert pc.ratio == pytest.approx(crop_ratio(look, pr.final_shape, (40, 48)))


def test_cli_preview_writes_image_and_final_look(tmp_path: Path, images: tuple[Path, Path]) -> None:
    from impasto.io.images import read_image

    content, style = images
    out = tmp_path / "prev.png"
    r = runner.invoke(app, ["preview", str(content), str(style), "--final-size", "96", "--scale", "0.5",
                            "--iterations", "2", "--final-iterations", "40", "--u", "3.5", "--seed", "3",
                            "--device", "cpu", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert max(read_image(out).shape[:2]) == 48
    rec = load_look(tmp_path / "prev.look.toml")
    assert (rec.look.size, rec.look.iterations, rec.look.u, rec.look.seed) == (96, 40, 3.5, 3)
    assert rec.content == str(content.resolve()) and rec.styles == [str(style.resolve())]
    assert rec.weights_origin
    assert "an estimate" in r.output


def test_cli_preview_crop_outside_is_exit_2_and_writes_nothing(tmp_path: Path, images: tuple[Path, Path]) -> None:
    content, style = images
    out = tmp_path / "prev.png"
    r = runner.invoke(app, ["preview", str(content), str(style), "--final-size", "96", "--crop", "0,0,200,50",
                            "--device", "cpu", "-o", str(out)])
    assert r.exit_code == 2
    assert "outside" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == [content, style] or not out.exists()
    assert not (tmp_path / "prev.look.toml").exists()


def test_cli_calibrate_measures_k_and_writes_it(tmp_path: Path, images: tuple[Path, Path]) -> None:
    content, style = images
    out = tmp_path / "cal.png"
    r = runner.invoke(app, ["preview", str(content), str(style), "--calibrate", "--sizes", "32,48",
                            "--candidates", "0,2", "--iterations", "2", "--seed", "0", "--device", "cpu", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rec = load_look(tmp_path / "cal.look.toml")
    report = json.loads((tmp_path / "cal.calibration.json").read_text())
    assert rec.look.k == report["k"] and 0 <= rec.look.k <= 2
    assert [c["k"] for c in report["per_candidate"]] == [0.0, 2.0]
    assert all(0 <= f <= 1 for c in report["per_candidate"] for f in c["fractions"].values())


# --- the final grows from its preview (levels, Look.preview, Look.anchor) ------------------------------------


def _down_rms(final: np.ndarray, small: np.ndarray) -> float:
    import torch

    from impasto.io.tensors import resize, to_array, to_tensor

    down = to_array(resize(to_tensor(final, torch.device("cpu")), small.shape[:2]))
    return float(np.sqrt(np.mean((down - small) ** 2)))


def test_anchor_penalty_is_zero_at_the_anchor_and_grows_away_from_it() -> None:
    import torch

    from impasto.objective.terms import AnchorTerm, Scored

    up = torch.rand(1, 3, 16, 16) * 0.5 + 0.25
    anchor = torch.nn.functional.interpolate(up, size=(8, 8), mode="bicubic", align_corners=False, antialias=True)
    term = AnchorTerm(anchor, 1.0)

    def at(img):
        return float(term(Scored(img, img.clamp(0, 1), {})))

    assert at(up) == pytest.approx(0.0, abs=1e-10)
    assert at(up + 0.1) == pytest.approx(1.0, rel=1e-4)  # an RMS of 0.1 costs `anchor`
    assert float(AnchorTerm(anchor, 0.0)(Scored(up + 0.5, up + 0.5, {}))) == 0.0


def test_cli_final_grows_from_its_preview(tmp_path: Path, images: tuple[Path, Path]) -> None:
    """preview --scale 0.25 writes a look (3 levels, anchor, the preview image) that stylize renders; the final,
    averaged down, stays near the preview: nearer than a final painted from the photo in one pass."""
    from impasto.io.images import read_image

    content, style = images
    r = runner.invoke(app, ["preview", str(content), str(style), "--final-size", "128", "--scale", "0.25",
                            "--iterations", "6", "--final-iterations", "14", "--u", "3", "--seed", "2",
                            "--device", "cpu", "-o", str(tmp_path / "prev.png")])
    assert r.exit_code == 0, r.output
    assert "impasto stylize --look" in r.output
    rec = load_look(tmp_path / "prev.look.toml")
    assert (rec.look.levels, rec.look.anchor, rec.look.preview) == (3, 4.0, str((tmp_path / "prev.png").resolve()))
    r = runner.invoke(app, ["stylize", "--look", str(tmp_path / "prev.look.toml"), "--device", "cpu",
                            "-o", str(tmp_path / "final.png")])
    assert r.exit_code == 0, r.output
    prev, final = read_image(tmp_path / "prev.png"), read_image(tmp_path / "final.png")
    assert max(final.shape[:2]) == 128
    single = render(content, style, rec.look.model_copy(update={"levels": 1, "anchor": 0.0, "preview": None}),
                    device="cpu").image
    assert _down_rms(final, prev) < 0.5 * _down_rms(single, prev)


def test_preview_of_another_size_is_one_sentence(tmp_path: Path, images: tuple[Path, Path]) -> None:
    from impasto.io.images import write_image

    content, style = images
    write_image(tmp_path / "odd.png", np.zeros((40, 40, 3), np.float32))
    out = tmp_path / "final.png"
    for extra, words in ((["--levels", "3"], "coarsest level is 32×32"), (["--levels", "1"], "--levels 2 or more")):
        r = runner.invoke(app, ["stylize", str(content), str(style), "--size", "128", "--iterations", "2",
                                "--preview", str(tmp_path / "odd.png"), "--device", "cpu", "-o", str(out), *extra])
        assert r.exit_code == 2, r.output
        assert words in r.output and "Traceback" not in r.output
        assert not out.exists()


def test_shot_frames_do_not_take_a_frames_preview() -> None:
    from impasto.shot.config import Shot

    look = Look(levels=3, anchor=1.0, preview="/somewhere/prev.png", seed=1)
    shot = Shot.model_validate({"name": "cs010", "plate": "p.####.exr", "frames": "1001-1002", "look": look.model_dump(),
                                "styles": [__file__]})
    got, _ = shot.resolved_look()
    assert got.preview is None and got.levels == 3 and got.anchor == 1.0
