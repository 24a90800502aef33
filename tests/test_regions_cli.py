"""Regions on the command line: stylize/preview/look save --matte, look files' regions (relative paths, look show),
sweep --region, style-image check --look, and the small-matte warning (issue 17 parts 3, 5, 6)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch
from typer.testing import CliRunner

from impasto.cli import app
from impasto.io.images import read_image, write_image
from impasto.look import load_look
from impasto.lookdev.sweep import CELLS, INDEX, MANIFEST, SHEET

FAST = ["--size", "48", "--iterations", "2", "--seed", "3", "--device", "cpu"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny renders gain nothing from threads on a shared CPU
    yield
    torch.set_num_threads(before)


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def said(res) -> str:
    return " ".join(res.output.split())


def grey(m: np.ndarray) -> np.ndarray:
    return np.repeat(m[..., None], 3, axis=2)


def half_matte(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[:, : w // 2] = 1.0
    return grey(m)


@pytest.fixture()
def files(images, tmp_path: Path) -> dict[str, Path]:
    content, style = images  # 96 px square (conftest)
    other = write_image(tmp_path / "other.png", np.ascontiguousarray(read_image(style)[:, ::-1]))
    return {"content": content, "style": style, "other": other,
            "fg": write_image(tmp_path / "fg.png", half_matte(96, 96)),
            "wide": write_image(tmp_path / "wide.png", half_matte(48, 96)),
            "speck": write_image(tmp_path / "speck.png", grey(np.pad(np.ones((4, 4), np.float32), ((0, 92), (0, 92)))))}


def test_stylize_matte_records_the_region_and_the_look_file_repaints_it(files, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    res = run("stylize", files["content"], files["style"], "-o", out, "--u", "5", "--matte", files["fg"],
              "--matte-u", "2", "--matte-style", files["other"], "--matte-feather", "4", *FAST)
    assert res.exit_code == 0, res.output
    assert "matte u 2" in said(res)
    record = load_look(tmp_path / "out.look.toml")
    (region,) = record.look.regions
    assert (region.name, region.u, region.feather, region.invert) == ("matte", 2.0, 4.0, False)
    assert Path(region.matte) == files["fg"].resolve() and region.styles == [str(files["other"].resolve())]
    assert record.look.u == 5.0
    # the look file alone repaints the same picture (same seed, same matte and styles)
    again = tmp_path / "again.png"
    res = run("stylize", "--look", tmp_path / "out.look.toml", "-o", again, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert np.array_equal(read_image(out), read_image(again))
    # and the matte changes the picture: without it the same seed paints otherwise
    plain = tmp_path / "plain.png"
    assert run("stylize", files["content"], files["style"], "-o", plain, "--u", "5", *FAST).exit_code == 0
    assert not np.array_equal(read_image(out), read_image(plain))


@pytest.mark.parametrize("option", [["--matte-u", "2"], ["--matte-style", "x.png"], ["--matte-invert"],
                                    ["--matte-feather", "3"], ["--matte-channel", "A"]])
def test_matte_options_without_a_matte_are_one_sentence(files, tmp_path: Path, option: list[str]) -> None:
    out = tmp_path / "out.png"
    res = run("stylize", files["content"], files["style"], "-o", out, *option, *FAST)
    assert res.exit_code != 0
    assert f"{option[0]} sets how the --matte is painted; give --matte too." in said(res)
    assert "Traceback" not in res.output and not out.exists()


def test_matte_of_the_wrong_aspect_is_one_sentence_and_writes_nothing(files, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    res = run("stylize", files["content"], files["style"], "-o", out, "--matte", files["wide"], "--matte-u", "2", *FAST)
    assert res.exit_code != 0
    text = said(res)
    assert "matte of region 'matte' is 96×48, the picture is 96×96; give it the picture's aspect." in text
    assert text.count("error:") == 1 and "Traceback" not in res.output
    assert not out.exists() and not (tmp_path / "out.look.toml").exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_bad_matte_u_names_the_option(files, tmp_path: Path) -> None:
    res = run("stylize", files["content"], files["style"], "-o", tmp_path / "o.png", "--matte", files["fg"],
              "--matte-u", "40", *FAST)
    assert res.exit_code != 0 and "Invalid --matte-u: u must lie between" in said(res)


def test_a_small_matte_is_a_warning(files, tmp_path: Path) -> None:
    res = run("stylize", files["content"], files["style"], "-o", tmp_path / "o.png", "--matte", files["speck"],
              "--matte-u", "2", *FAST)
    assert res.exit_code == 0, res.output
    assert "warning: Region 'matte' covers 0.2% of the frame (under 2%)" in said(res)


def test_preview_with_a_matte_scaled_and_cropped(files, tmp_path: Path) -> None:
    common = [files["content"], files["style"], "--final-size", "64", "--iterations", "2", "--seed", "3",
              "--device", "cpu", "--matte", files["speck"], "--matte-u", "2", "--matte-feather", "8"]
    res = run("preview", *common, "--scale", "0.5", "-o", tmp_path / "p.png")
    assert res.exit_code == 0, res.output
    assert read_image(tmp_path / "p.png").shape[:2] == (32, 32)
    assert "warning: Region 'matte' covers" in said(res)
    (region,) = load_look(tmp_path / "p.look.toml").look.regions  # the final's look: feather at the final's size
    assert region.feather == 8.0 and region.u == 2.0
    res = run("preview", *common, "--crop", "0,0,32,48", "-o", tmp_path / "c.png")
    assert res.exit_code == 0, res.output
    assert read_image(tmp_path / "c.png").shape[:2] == (48, 32)
    assert "warning: Region 'matte' covers" in said(res)  # about the whole frame, not the crop


def test_crop_regions_keep_the_final_ratio_between_regions(files) -> None:
    from impasto.look import Look, RegionSpec
    from impasto.lookdev.preview import crop_regions

    look = Look(u=5, size=96, regions=[RegionSpec(name="fg", matte=str(files["fg"]), u=2)])
    guides, _ = crop_regions(files["content"], look, (96, 96), (32, 16, 64, 80), 3.25)
    (region,) = guides.regions
    assert region.matte.shape == (64, 32)  # the final's matte, cropped: its edge (x 48) lies at x 16 of the crop
    assert region.matte[:, :16].min() == 1.0 and region.matte[:, 16:].max() == 0.0
    assert region.u == pytest.approx(3.25 - 3)  # ratio over the crop's: 10**(2 - 5), as in the final


def write_look(path: Path, regions: list[dict], **look) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps({"look": {"size": 48, "iterations": 2, "seed": 3, **look, "regions": regions},
                                   "content": "../content.png", "styles": ["../style.png"]}))
    return path


def test_look_files_regions_are_relative_to_the_look_file_and_show_lists_them(files, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    look = write_look(tmp_path / "looks" / "fg.toml", [
        {"name": "fg", "matte": "../fg.png", "u": 2, "styles": ["../other.png"], "feather": 6},
        {"name": "sky", "matte": "../fg.png", "channel": "R", "invert": True}], u=5)
    res = run("look", "show", look)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "region fg: matte ../fg.png, channel auto, u 2, styles ../other.png, feather 6 px" in lines
    assert "region sky: matte ../fg.png (inverted), channel R, u 5 (the look's), styles the look's, feather 0 px" in lines
    assert not any(line.startswith("regions:") for line in lines)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the mattes are found from the look file's folder, not the working folder
    res = run("stylize", "--look", look, "-o", "out.png", "--device", "cpu")
    assert res.exit_code == 0, res.output
    regions = load_look(elsewhere / "out.look.toml").look.regions
    assert [Path(r.matte).resolve() for r in regions] == [files["fg"].resolve()] * 2
    assert all(Path(r.matte).is_absolute() for r in regions)  # the sidecar works from any folder


def test_look_save_with_a_matte(files, tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    res = run("look", "save", path, files["content"], files["style"], "--u", "5", "--matte", files["fg"],
              "--matte-u", "2.5", "--matte-invert")
    assert res.exit_code == 0, res.output
    assert "matte u 2.5" in said(res)
    (region,) = load_look(path).look.regions
    assert (region.name, region.u, region.invert, Path(region.matte)) == ("matte", 2.5, True, files["fg"].resolve())
    res = run("look", "save", tmp_path / "n.toml", "--look", path, "--matte-u", "3")
    assert res.exit_code != 0 and "give --matte too" in said(res)


def test_sweep_region_varies_that_regions_u(files, tmp_path: Path) -> None:
    look = write_look(tmp_path / "looks" / "fg.toml", [{"name": "fg", "matte": "../fg.png", "u": 2}], u=5)
    out = tmp_path / "sweep"
    res = run("sweep", "--look", look, "--region", "fg", "--u", "2,3", "--device", "cpu", "-o", out)
    assert res.exit_code == 0, res.output
    assert "2 fg u values" in said(res)
    assert (out / SHEET).is_file()
    index = (out / INDEX).read_text()
    assert "fg u 2" in index and "fg u 3" in index
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["axes"]["region"] == "fg" and manifest["axes"]["u"] == [2.0, 3.0]
    looks = sorted((out / CELLS).glob("*.look.toml"))
    assert len(looks) == 2
    cells = [load_look(p).look for p in looks]
    assert [c.u for c in cells] == [5.0, 5.0]  # the look's u stays
    assert sorted(c.regions[0].u for c in cells) == [2.0, 3.0]
    images = [read_image(p) for p in sorted((out / CELLS).glob("*.png"))]
    assert not np.array_equal(images[0], images[1])
    # a cell's look file repaints the cell
    again = tmp_path / "again.png"
    assert run("stylize", "--look", looks[0], "-o", again, "--device", "cpu").exit_code == 0
    assert np.array_equal(read_image(again), read_image(looks[0].with_name(looks[0].name.replace(".look.toml", ".png"))))


def test_sweep_unknown_region_lists_the_names(files, tmp_path: Path) -> None:
    look = write_look(tmp_path / "looks" / "fg.toml", [{"name": "fg", "matte": "../fg.png"},
                                                       {"name": "sky", "matte": "../fg.png", "invert": True}])
    out = tmp_path / "sweep"
    res = run("sweep", "--look", look, "--region", "face", "--u", "2,3", "--device", "cpu", "-o", out)
    assert res.exit_code != 0
    assert "The look has no region 'face'; its regions are 'fg', 'sky'." in said(res)
    assert not out.exists()
    res = run("sweep", files["content"], files["style"], "--region", "fg", "--u", "2", "--size", "48",
              "--device", "cpu", "-o", out)
    assert res.exit_code != 0 and "The look has no region 'fg'; it has none" in said(res)


def test_style_image_check_look_names_each_regions_images(files, tmp_path: Path) -> None:
    tiny = write_image(tmp_path / "tiny.png", np.random.default_rng(0).uniform(0.2, 0.8, (40, 40, 3)))
    look = write_look(tmp_path / "looks" / "fg.toml", [{"name": "fg", "matte": "../fg.png", "styles": ["../tiny.png"]}])
    res = run("style-image", "check", "--look", look)
    assert res.exit_code == 0, res.output
    text = said(res)
    assert f"warning: region 'fg' style image '{tmp_path / 'looks' / '..' / 'tiny.png'}': The long edge is 40 px" in text
    assert "region 'fg':" in text and "look:" in text  # each table says whose image it is
    assert "checked 2 of 2 style images" in text
    assert (tmp_path / "tiny.png.report.json").is_file()
    res = run("style-image", "check", "--look", look, "--json")
    owners = [r["belongs_to"] for r in json.loads(res.stdout[res.stdout.index("["):])]
    assert owners == ["look", "region 'fg'"]
    res = run("style-image", "check", "--look", look, "--strict")
    assert res.exit_code == 1
    res = run("style-image", "check")
    assert res.exit_code != 0 and "Give a style image to check, or --look with a look file." in said(res)
    res = run("style-image", "check", tiny, "--look", look)
    assert res.exit_code != 0 and "not both" in said(res)
    # an unreadable image is named with its owner; the others are still checked
    write_image(tiny, np.full((16, 16, 3), 0.5, np.float32))
    res = run("style-image", "check", "--look", look)
    assert res.exit_code == 2 and "error: region 'fg' style image" in said(res)
    assert "checked 1 of 2 style images" in said(res)


def test_sweep_over_the_looks_u_moves_the_regions_without_a_u_of_their_own(files, tmp_path: Path) -> None:
    from impasto.look import Look, RegionSpec
    from impasto.lookdev.sweep import plan_sweep

    look = Look(size=48, u=4, regions=[RegionSpec(name="fg", matte=str(files["fg"]), u=2),
                                       RegionSpec(name="bg", matte=str(files["fg"]), invert=True)])
    plan = plan_sweep(files["content"], [files["style"]], tmp_path / "s", look, us=[3, 5])
    assert {r.name: r.u for r in plan.guides(5).regions} == {"fg": 2, "bg": 5}
    plan = plan_sweep(files["content"], [files["style"]], tmp_path / "s", look, us=[3, 5], region="fg")
    assert {r.name: r.u for r in plan.guides(3).regions} == {"fg": 3, "bg": 4}
