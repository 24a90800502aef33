"""style-image build and check: diagnostics on synthetic images with known defects, layout, reports, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

import impasto.commands.style_image  # noqa: F401  (registers `style-image` on the shared app)
from impasto.commands.common import app
from impasto.errors import UsageError
from impasto.io.images import read_image, write_image
from impasto.lookdev import style_image as si

runner = CliRunner()


def texture(h: int = 96, w: int = 96, sigma: float = 0.6, seed: int = 0, contrast: float = 0.12) -> np.ndarray:
    """Neutral grey paint-like texture: mid-grey, no clipping, fine detail unless `sigma` is large."""
    rng = np.random.default_rng(seed)
    grey = gaussian_filter(rng.standard_normal((h, w)), sigma)
    grey = 0.5 + contrast * grey / grey.std()
    tint = 1.0 + 0.03 * gaussian_filter(rng.standard_normal((h, w, 3)), (6, 6, 0))  # a little colour variation
    return np.clip(grey[..., None] * tint, 0.05, 0.95).astype(np.float32)


def diag(report: si.CheckReport, name: str) -> si.Diagnostic:
    return next(d for d in report.diagnostics if d.name == name)


def cli(*args: str):
    return runner.invoke(app, ["style-image", *args])


# --- diagnostics ---------------------------------------------------------------------------------------------------
def test_clean_texture_has_no_warnings():
    report = si.check_array(texture(), final_size=64)
    assert report.warnings == [], report.warnings
    assert all(d.ok for d in report.diagnostics)


def test_clipped_highlights_and_crushed_shadows_are_measured_per_channel():
    rgb = texture()
    n = rgb.shape[0] * rgb.shape[1]
    flat = rgb.reshape(-1, 3)
    idx = np.random.default_rng(1).permutation(n)
    flat[idx[: n // 20], 0] = 1.0  # exactly 5 % blown in red
    flat[idx[n // 20: n // 20 + n // 200], 2] = 0.0  # 0.5 % crushed in blue: under the threshold
    report = si.check_array(rgb, final_size=64)
    high, low = diag(report, "clipped_highlights"), diag(report, "crushed_shadows")
    assert high.detail["R"] == pytest.approx((n // 20) / n)
    assert high.detail["G"] == 0.0 and high.value == high.detail["R"]
    assert not high.ok and "R" in high.warning
    assert low.detail["B"] == pytest.approx((n // 200) / n)
    assert low.ok and low.warning is None

    flat[idx[: n // 20], 2] = 0.005  # now 5 % crushed in blue
    assert not diag(si.check_array(rgb, final_size=64), "crushed_shadows").ok


def test_blur_is_flagged_and_sharp_texture_is_not():
    sharp = texture()
    blurred = np.stack([gaussian_filter(sharp[..., c], 2.0) for c in range(3)], axis=-1)
    s, b = si.check_array(sharp, 64), si.check_array(blurred, 64)
    assert diag(s, "sharpness").ok
    assert not diag(b, "sharpness").ok and diag(b, "sharpness").warning
    assert diag(b, "sharpness").value < 0.5 * diag(s, "sharpness").value


def test_sharpness_is_fair_across_resolutions():
    """The same texture at 1024 and 768 px scores alike, because both are measured at the analysis size."""
    big = texture(768, 1024, sigma=1.2, seed=3)
    mid = si._resize(big, 768, 576)
    a, b = diag(si.check_array(big, 64), "sharpness"), diag(si.check_array(mid, 64), "sharpness")
    assert a.detail["analysis_width"] == b.detail["analysis_width"] == si.ANALYSIS_EDGE
    assert a.value == pytest.approx(b.value, rel=0.03)
    # Measured at their own sizes they would not agree: that is what the analysis size is for.
    raw_a, raw_b = si.detail_bands(big)[0], si.detail_bands(mid)[0]
    assert abs(raw_a - raw_b) > 5 * abs(a.value - b.value)


def test_flat_texture_is_flagged():
    flat = texture(contrast=0.005)
    assert not diag(si.check_array(flat, 64), "texture").ok


def test_colour_cast():
    neutral = texture()
    warm = np.clip(neutral * np.array([1.0, 0.8, 0.5], dtype=np.float32), 0, 1)
    n, w = diag(si.check_array(neutral, 64), "colour_cast"), diag(si.check_array(warm, 64), "colour_cast")
    assert n.ok and n.value < 3
    assert not w.ok and w.detail["b"] > 15 and w.detail["b_over_g"] < 0.8


def test_resolution_against_final_size():
    rgb = texture()  # 96 px long edge
    ok = diag(si.check_array(rgb, final_size=80), "resolution")  # needs 96
    low = diag(si.check_array(rgb, final_size=512), "resolution")  # needs 614
    assert ok.ok and ok.threshold == 96
    assert not low.ok and low.threshold == 614 and "614" in low.warning
    assert diag(si.check_array(rgb, final_size=512, style_scale=0.1), "resolution").ok


def _jpeg(tmp_path: Path, rgb: np.ndarray, quality: int, name: str) -> Path:
    path = tmp_path / name
    Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).save(path, "JPEG", quality=quality)
    return path


def test_jpeg_blocking(tmp_path):
    smooth = texture(128, 160, sigma=2.0, seed=5)
    clean = read_image(_jpeg(tmp_path, smooth, 97, "clean.jpg"))
    blocky = read_image(_jpeg(tmp_path, smooth, 8, "blocky.jpg"))
    assert diag(si.check_array(clean, 64), "jpeg_blocking").ok
    assert not diag(si.check_array(blocky, 64), "jpeg_blocking").ok
    # Cropped at an offset that is no multiple of 8, the grid is still found.
    shifted = diag(si.check_array(blocky[3:, 5:], 64), "jpeg_blocking")
    assert not shifted.ok and shifted.detail["x_phase"] == (7 - 5) % 8 and shifted.detail["y_phase"] == (7 - 3) % 8


# --- boxes and layout ----------------------------------------------------------------------------------------------
def test_parse_box():
    assert si.parse_box("40,30,300,200") == si.Box(40, 30, 300, 200, 0)
    assert si.parse_box("1:40, 30,300,200") == si.Box(40, 30, 300, 200, 1)
    for bad in ("40,30,300", "a,b,c,d", "1:2:3,4,5,6", ""):
        with pytest.raises(UsageError):
            si.parse_box(bad)


@pytest.mark.parametrize("box,word", [
    (si.Box(50, 10, 20, 40), "reversed"), (si.Box(10, 40, 50, 10), "reversed"), (si.Box(10, 10, 10, 40), "empty"),
    (si.Box(-1, 0, 20, 20), "outside"), (si.Box(0, 0, 97, 20), "outside"), (si.Box(0, 0, 2, 20), "only"),
])
def test_validate_box(box, word):
    with pytest.raises(UsageError, match=word):
        si.validate_box(box, 96, 80, "photo.png")


def _covers_exactly(placed, size):
    """Every canvas pixel belongs to exactly one region: no gaps, no overlaps."""
    w, h = size
    count = np.zeros((h, w), dtype=int)
    for x0, y0, x1, y1 in placed:
        count[y0:y1, x0:x1] += 1
    return bool((count == 1).all())


@pytest.mark.parametrize("main,blocks,layout", [
    ((780, 620), [(260, 170), (200, 160)], "auto"),
    ((300, 900), [(100, 100), (120, 80), (50, 200)], "auto"),
    ((780, 620), [(260, 170)] * 7, "below"),
    ((780, 620), [(30, 300), (300, 30)], "right"),
    ((500, 500), [], "auto"),
])
def test_layout_is_packed(main, blocks, layout):
    side, placed, size = si.plan_layout(main, blocks, 1000, layout)
    assert max(size) == 1000
    assert _covers_exactly(placed, size)
    assert layout == "auto" or side == layout
    mx0, my0, mx1, my1 = placed[0]
    assert (mx1 - mx0) / (my1 - my0) == pytest.approx(main[0] / main[1], rel=0.01)  # the main crop keeps its shape


def test_layout_keeps_blocks_at_the_crop_scale_where_it_can():
    # Six 260×170 blocks under a 780×620 crop: two rows of three keep exactly the crop's scale.
    side, placed, (w, h) = si.plan_layout((780, 620), [(260, 170)] * 6, 960, "below")
    assert (w, h, placed[0][3]) == (780, 960, 620)
    assert [y1 - y0 for _, y0, _, y1 in placed[1:]] == [170] * 6
    # A seventh cannot fit at that scale: rows of four and three, each slightly off, beat a lone block blown up ×3.
    _, placed, _ = si.plan_layout((780, 620), [(260, 170)] * 7, 2000, "below")
    rows = sorted({y0 for _, y0, _, _ in placed[1:]})
    assert [sum(1 for p in placed[1:] if p[1] == r) for r in rows] == [4, 3]
    # Blocks much smaller than a wide crop go beside it, at their own scale, rather than blown up below it.
    side, placed, _ = si.plan_layout((900, 300), [(100, 100)] * 3, 1000)
    assert side == "right" and [x1 - x0 for x0, _, x1, _ in placed[1:]] == [100] * 3
    # Forced below, they must be enlarged threefold to span the width.
    side, placed, _ = si.plan_layout((900, 300), [(100, 100)] * 3, 900, "below")
    assert [x1 - x0 for x0, _, x1, _ in placed[1:]] == [300] * 3


# --- build (CLI) ---------------------------------------------------------------------------------------------------
@pytest.fixture()
def photos(tmp_path):
    a = texture(80, 96, seed=11) * np.array([1.0, 0.7, 0.6], dtype=np.float32)  # warm photo
    b = texture(64, 64, seed=12) * np.array([0.6, 0.7, 1.0], dtype=np.float32)  # cool photo
    pa, pb = tmp_path / "painting_a.png", tmp_path / "painting_b.png"
    write_image(pa, a)
    write_image(pb, b)
    return pa, pb


def test_build_assembles_crop_and_blocks(tmp_path, photos):
    pa, pb = photos
    out = tmp_path / "style.png"
    r = cli("build", str(pa), str(pb), "--crop", "8,8,88,72", "--block", "0,0,40,30", "--block", "1:4,4,60,44",
            "--size", "128", "-o", str(out))
    assert r.exit_code == 0, r.output
    img = read_image(out)
    assert max(img.shape[:2]) == 128
    report = json.loads(si.report_path(out).read_text())
    build, check = report["build"], report["check"]
    assert [(g["role"], g["photo"]) for g in build["regions"]] == [("crop", 0), ("block", 0), ("block", 1)]
    assert build["regions"][0]["box"] == [8, 8, 88, 72]
    assert _covers_exactly([g["placed"] for g in build["regions"]], (build["width"], build["height"]))
    assert (build["width"], build["height"]) == (img.shape[1], img.shape[0])
    assert build["sha256"] == si.file_sha256(out)
    assert sum(g["share"] for g in build["regions"]) == pytest.approx(1.0, abs=1e-3)
    # Each region holds its own photo: the block from the cool photo is blue, the rest warm.
    for g in build["regions"]:
        x0, y0, x1, y1 = g["placed"]
        r_, _, b_ = img[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
        assert (b_ > r_) == (g["photo"] == 1)
    assert {d["name"] for d in check["diagnostics"]} >= {"clipped_highlights", "crushed_shadows", "resolution",
                                                          "sharpness", "texture", "colour_cast", "jpeg_blocking"}
    assert any("upsampled" in w for w in build["warnings"])  # 80 px of crop made 128 px wide

    # A later check keeps the build record of the same file and replaces the check.
    r = cli("check", str(out), "--final-size", "2048")
    assert r.exit_code == 0, r.output
    report = json.loads(si.report_path(out).read_text())
    assert report["build"] == build and report["check"]["final_size"] == 2048
    assert any("2458" in w for w in report["check"]["warnings"])


def test_build_without_crop_uses_the_whole_first_photo(tmp_path, photos):
    pa, _ = photos
    result = si.build_style_image([pa], tmp_path / "s.png", size=48, write=False)
    assert result.image.shape == (40, 48, 3)
    assert result.report.regions[0].box == (0, 0, 96, 80)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("args,word", [
    (["--crop", "88,8,8,72"], "reversed"),
    (["--block", "10,10,10,40"], "empty"),
    (["--crop", "0,0,200,72"], "outside"),
    (["--block", "1:0,0,65,20"], "outside"),
    (["--block", "2:0,0,20,20"], "2 photos were given"),
    (["--block", "0,0,20"], "x0,y0,x1,y1"),
    (["--size", "8"], "--size"),
    (["--block", "0,0,90,4", "--size", "40"], "raise --size"),
    (["--layout", "diagonal"], "--layout"),
])
def test_build_bad_input_exits_2_and_writes_nothing(tmp_path, photos, args, word):
    pa, pb = photos
    out = tmp_path / "style.png"
    r = cli("build", str(pa), str(pb), *args, "-o", str(out))
    assert r.exit_code == 2, r.output
    assert word in " ".join(r.output.split())
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["painting_a.png", "painting_b.png"]


def test_build_refuses_to_overwrite_its_photo_or_write_an_unknown_format(tmp_path, photos):
    pa, _ = photos
    r = cli("build", str(pa), "-o", str(pa))
    assert r.exit_code == 2 and "input photos" in r.output
    r = cli("build", str(pa), "-o", str(tmp_path / "style.gif"))
    assert r.exit_code == 2 and "extension" in r.output
    r = cli("build", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "style.png"))
    assert r.exit_code == 2 and "does not exist" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["painting_a.png", "painting_b.png"]


# --- check (CLI) ---------------------------------------------------------------------------------------------------
def test_check_strict_exit_codes_and_report(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    write_image(good, texture())
    write_image(bad, np.stack([gaussian_filter(texture()[..., c], 2.5) for c in range(3)], axis=-1))

    r = cli("check", str(good), "--final-size", "64", "--strict")
    assert r.exit_code == 0, r.output
    data = json.loads(si.report_path(good).read_text())
    assert data["check"]["warnings"] == [] and "build" not in data

    r = cli("check", str(bad), "--final-size", "64")
    assert r.exit_code == 0 and "warning" in r.output and "sharpness" in r.output
    r = cli("check", str(bad), "--final-size", "64", "--strict")
    assert r.exit_code == 1
    assert not json.loads(si.report_path(bad).read_text())["check"]["diagnostics"][3]["ok"]

    other = tmp_path / "elsewhere.json"
    r = cli("check", str(good), "--final-size", "64", "--json", "--report", str(other))
    assert r.exit_code == 0 and json.loads(r.output)["width"] == 96 and other.is_file()


@pytest.mark.parametrize("make,word", [
    (lambda d: d / "missing.png", "does not exist"),
    (lambda d: d, "folder"),
])
def test_check_bad_input_exits_2(tmp_path, make, word):
    r = cli("check", str(make(tmp_path)))
    assert r.exit_code == 2 and word in r.output and "Traceback" not in r.output
    assert not list(tmp_path.glob("*.report.json"))


def test_check_bad_final_size(tmp_path):
    path = tmp_path / "s.png"
    write_image(path, texture())
    r = cli("check", str(path), "--final-size", "0")
    assert r.exit_code == 2 and "final size" in r.output
    assert not si.report_path(path).exists()


def test_registered_on_the_impasto_app(tmp_path):
    from impasto.cli import app as cli_app

    path = tmp_path / "s.png"
    write_image(path, texture())
    r = runner.invoke(cli_app, ["style-image", "check", str(path), "--final-size", "64", "--strict"])
    assert r.exit_code == 0, r.output
