"""Mattes in (issue 17): matte files, channels and layers, frame patterns, feathering, a look's regions read for a
picture, their warnings, and looks with regions in TOML (a look without regions dumps and hashes as before)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from impasto.errors import UsageError
from impasto.io.mattes import alpha_matte, feather, fit_matte, matte_digest, read_matte
from impasto.look import Look, LookFile, load_look, save_look
from impasto.objective.regions import load_regions, matte_digests, missing_mattes
from impasto.objective.guides import Guides

H, W = 48, 64


def write(path: Path, pixels: np.ndarray, channels: list[str], fmt=oiio.FLOAT,
          window: tuple[int, int, int, int] | None = None) -> Path:
    """Pixels (H×W×C) written with OpenImageIO under the given channel names; `window` (x, y, full_w, full_h)
    places them as a data window inside a larger display window."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    spec.channelnames = tuple(channels)
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    if window is not None:
        spec.x, spec.y = window[0], window[1]
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, window[2], window[3]
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
    out.close()
    return path


def half_frame(h: int = H, w: int = W) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[:, : w // 2] = 1.0
    return m


def test_alpha_matte_from_an_rgba_png(tmp_path: Path) -> None:
    rgba = np.zeros((H, W, 4), np.float32)
    rgba[..., :3] = 0.3
    rgba[..., 3] = half_frame()
    path = write(tmp_path / "plate.png", rgba, ["R", "G", "B", "A"], oiio.UINT8)
    m = read_matte(path)  # default: alpha
    assert m.shape == (H, W) and m.dtype == np.float32
    np.testing.assert_allclose(m, half_frame(), atol=1 / 255)
    np.testing.assert_allclose(alpha_matte(rgba), half_frame())
    with pytest.raises(UsageError, match="has no alpha channel"):
        alpha_matte(rgba[..., :3])


def test_channels_and_layer_channels_of_a_multichannel_exr(tmp_path: Path) -> None:
    red = half_frame()
    fg = np.zeros((H, W), np.float32)
    fg[10:30, 20:40] = 1.0
    px = np.stack([red, np.zeros_like(red), np.zeros_like(red), np.ones_like(red), fg], axis=-1)
    path = write(tmp_path / "mattes.exr", px, ["R", "G", "B", "A", "fg.A"])
    np.testing.assert_array_equal(read_matte(path, "R"), red)
    np.testing.assert_array_equal(read_matte(path, "fg.A"), fg)
    np.testing.assert_array_equal(read_matte(path), np.ones_like(red))  # several channels: A
    np.testing.assert_array_equal(read_matte(path, "FG.a"), fg)  # names in any case
    with pytest.raises(UsageError) as exc:
        read_matte(path, "bg.A")
    assert str(exc.value) == f"Matte '{path}' has no channel 'bg.A'; it has R, G, B, A, fg.A."
    grey = write(tmp_path / "grey.exr", red[..., None] * 2.0, ["Y"])  # the only channel; values over 1 clip
    np.testing.assert_array_equal(read_matte(grey), red)


def test_layer_channels_in_a_multipart_exr(tmp_path: Path) -> None:
    path = tmp_path / "parts.exr"
    rgb = oiio.ImageSpec(W, H, 3, oiio.FLOAT)
    rgb.channelnames = ("R", "G", "B")
    rgb.attribute("name", "rgba")
    fg = oiio.ImageSpec(W, H, 2, oiio.FLOAT)
    fg.channelnames = ("R", "A")  # a part 'fg' whose channels do not repeat its name
    fg.attribute("name", "fg")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), [rgb, fg])
    out.write_image(np.zeros((H, W, 3), np.float32))
    assert out.open(str(path), fg, "AppendSubimage")
    out.write_image(np.stack([np.zeros((H, W), np.float32), half_frame()], axis=-1))
    out.close()
    np.testing.assert_array_equal(read_matte(path, "fg.A"), half_frame())
    with pytest.raises(UsageError) as exc:
        read_matte(path, "bg.A")
    assert str(exc.value) == f"Matte '{path}' has no channel 'bg.A'; it has R, G, B, fg.R, fg.A."


def test_a_cropped_data_window_is_placed_in_the_display_window(tmp_path: Path) -> None:
    path = write(tmp_path / "bbox.exr", np.ones((10, 20, 1), np.float32), ["A"], window=(30, 5, W, H))
    m = read_matte(path)
    assert m.shape == (H, W)
    assert m[5:15, 30:50].min() == 1.0 and m.sum() == 200


def test_frame_patterns_and_a_missing_frame(tmp_path: Path) -> None:
    for n in (1001, 1002):
        m = np.full((H, W, 1), n - 1000.5, np.float32)  # 0.5, 1.5 -> clipped to 1
        write(tmp_path / f"fg.{n}.exr", m, ["A"])
    pattern = str(tmp_path / "fg.####.exr")
    assert read_matte(pattern, frame=1001).max() == 0.5
    assert read_matte(pattern, frame=1002).min() == 1.0
    assert read_matte(str(tmp_path / "fg.%04d.exr"), frame=1001).max() == 0.5
    with pytest.raises(UsageError) as exc:
        read_matte(pattern, frame=1003)
    assert str(exc.value) == f"Matte frame 1003 '{tmp_path / 'fg.1003.exr'}' does not exist."
    with pytest.raises(UsageError, match="is a frame pattern"):
        read_matte(pattern)
    assert matte_digest(pattern, 1001) != matte_digest(pattern, 1002)
    with pytest.raises(UsageError, match="Matte frame 1003"):
        matte_digest(pattern, 1003)


def test_unreadable_and_missing_mattes_are_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    with pytest.raises(UsageError, match="not an image impasto can read|corrupt"):
        read_matte(tmp_path / "bad.exr")
    with pytest.raises(UsageError, match=r"^Matte '.*none.png' does not exist\.$"):
        read_matte(tmp_path / "none.png")


def test_fit_matte_resizes_or_refuses_another_aspect() -> None:
    m = fit_matte(half_frame(24, 32), (H, W))
    assert m.shape == (H, W) and m[:, :28].min() > 0.99 and m[:, 36:].max() < 0.01
    with pytest.raises(UsageError) as exc:
        fit_matte(half_frame(32, 32), (H, W))
    assert str(exc.value) == "The matte is 32×32, the picture is 64×48; give it the picture's aspect."


def ramp_width(row: np.ndarray) -> int:
    """Pixels on which a falling edge goes from 90 % to 10 %."""
    return int(np.sum((row < 0.9) & (row > 0.1)))


def test_feather_turns_a_hard_edge_into_a_ramp_about_that_wide() -> None:
    m = half_frame(32, 96)
    np.testing.assert_array_equal(feather(m, 0), m)  # 0 keeps it hard
    for px in (4, 8, 16):
        soft = feather(m, px)
        assert abs(ramp_width(soft[16]) - px) <= 2, (px, soft[16])
        assert soft[:, 0].min() == pytest.approx(1.0) and soft[:, -1].max() == pytest.approx(0.0)  # edges kept
        np.testing.assert_allclose(soft[0], soft[-1], atol=1e-6)  # only across the edge
    full = feather(np.ones((32, 32), np.float32), 12)
    np.testing.assert_allclose(full, 1.0, atol=1e-6)  # a matte that fills the frame still fills it


def test_load_regions_fits_inverts_and_feathers_at_the_painted_size(tmp_path: Path) -> None:
    write(tmp_path / "fg.exr", half_frame(24, 32)[..., None], ["A"])
    style = np.full((32, 32, 3), 0.25, np.float32)
    look = Look(size=48, u=5, regions=[
        {"matte": "fg.exr", "u": 2, "feather": 8},
        {"name": "rest", "matte": "fg.exr", "invert": True, "styles": ["s1.png", "s2.png"], "style_weights": [3, 1]},
    ])
    loaded: list[Path] = []

    def loader(p: Path) -> np.ndarray:
        loaded.append(p)
        return style

    regions, warnings = load_regions(look, (48, 64), root=tmp_path, style_loader=loader)
    fg, rest = regions
    assert (fg.name, fg.u, fg.styles, fg.blend) == ("region1", 2.0, (), ())
    assert (rest.name, rest.u, rest.blend) == ("rest", 5.0, (0.75, 0.25)) and len(rest.styles) == 2
    assert loaded == [tmp_path / "s1.png", tmp_path / "s2.png"]
    assert fg.matte.shape == rest.matte.shape == (48, 64)
    # The feather is 8 px at the look's 48 px long edge: 64 / 48 × 8 ≈ 11 px at this picture's size.
    assert abs(ramp_width(fg.matte[24]) - 11) <= 2
    # unfeathered: only the bilinear step of the 2× upscale
    assert ramp_width(rest.matte[24]) <= 2 and rest.matte[:, 40:].min() == 1.0 and rest.matte[:, :30].max() == 0.0
    assert warnings == []  # half and half: each big enough, no overlap
    assert load_regions(Look(), (48, 64)) == ([], [])
    # The engine takes them as they are: shares of every pixel sum to 1, the later region winning.
    at = Guides(regions=tuple(regions)).at((24, 32), torch.device("cpu"), look.u)
    total = sum(r.share for r in at.regions)
    torch.testing.assert_close(total, torch.ones_like(total))
    assert [r.name for r in at.regions] == ["base", "region1", "rest"]
    assert at.regions[0].share.mean() < 0.1  # the base keeps only the part of the feather the unfeathered rest misses


def test_alpha_regions_need_an_alpha(tmp_path: Path) -> None:
    look = Look(regions=[{"matte": "alpha", "u": 2}])
    regions, _ = load_regions(look, (H, W), content_alpha=half_frame())
    np.testing.assert_array_equal(regions[0].matte, half_frame())
    with pytest.raises(UsageError) as exc:
        load_regions(look, (H, W))
    assert str(exc.value) == "Region 'region1' uses the content's alpha as its matte, but the content has none."


def test_a_missing_matte_frame_names_the_frame(tmp_path: Path) -> None:
    write(tmp_path / "fg.1001.exr", half_frame()[..., None], ["A"])
    write(tmp_path / "fg.1002.exr", half_frame(24, 24)[..., None], ["A"])
    look = Look(regions=[{"matte": "fg.####.exr", "u": 2}])
    regions, _ = load_regions(look, (H, W), frame=1001, root=tmp_path)
    assert regions[0].matte.shape == (H, W)
    with pytest.raises(UsageError, match=r"^Matte frame 1003 '.*fg\.1003\.exr' does not exist\.$"):
        load_regions(look, (H, W), frame=1003, root=tmp_path)
    with pytest.raises(UsageError) as exc:
        load_regions(look, (H, W), frame=1002, root=tmp_path)
    assert str(exc.value) == ("The matte frame 1002 of region 'region1' is 24×24, the picture is 64×48; "
                              "give it the picture's aspect.")


def test_small_and_overlapping_regions_are_warned_about(tmp_path: Path) -> None:
    speck = np.zeros((H, W, 1), np.float32)
    speck[:4, :8] = 1.0  # 1 % of the frame
    write(tmp_path / "speck.exr", speck, ["A"])
    write(tmp_path / "half.exr", half_frame()[..., None], ["A"])
    look = Look(regions=[{"name": "speck", "matte": "speck.exr"}, {"name": "left", "matte": "half.exr"},
                         {"name": "right", "matte": "half.exr", "invert": True}])
    _, warnings = load_regions(look, (H, W), root=tmp_path)
    assert warnings == [
        ("Region 'speck' covers 1.0% of the frame (under 2%): its Gram is estimated from few pixels, so its style "
         "may come out weak or noisy."),
        "Regions 'speck' and 'left' overlap on 1.0% of the frame; the later one, 'left', wins there.",
    ]


def test_regions_in_a_look_file_round_trip(tmp_path: Path) -> None:
    look = Look(u=5, regions=[{"matte": "mattes/fg.####.exr", "channel": "fg.A", "u": 2, "feather": 6},
                              {"name": "sky", "matte": "sky.png", "styles": ["other.jpg"], "invert": True}])
    save_look(tmp_path / "look.toml", LookFile(look=look, styles=["style.png"]))
    text = (tmp_path / "look.toml").read_text()
    assert text.count("[[look.regions]]") == 2 and 'channel = "fg.A"' in text
    back = load_look(tmp_path / "look.toml").look
    assert back == look and [r.name for r in back.regions] == ["region1", "sky"]
    assert look.model_dump(mode="json")["regions"][1] == {"name": "sky", "matte": "sky.png", "styles": ["other.jpg"],
                                                          "feather": 0.0, "invert": True}  # unset fields left out
    assert Look(**look.model_dump()) == look
    (tmp_path / "bad.toml").write_text('[look]\nu = 4\n[[look.regions]]\nmatte = "a.png"\nname = "a"\n'
                                       '[[look.regions]]\nmatte = "b.png"\nname = "a"\n')
    with pytest.raises(UsageError, match="two regions are named 'a'"):
        load_look(tmp_path / "bad.toml")
    (tmp_path / "bad.toml").write_text('[[look.regions]]\nmatte = "a.png"\nu = 99\n')
    with pytest.raises(UsageError, match="u must lie between"):
        load_look(tmp_path / "bad.toml")


# Look().model_dump(mode="json") before looks had regions: sidecars, look files and look hashes are built from it.
BEFORE = {"u": 4.0, "iterations": 256, "size": 512, "network": "vgg16", "weights": None, "style_weights": None,
          "style_scale": 1.2, "k": 2.0, "raw_ratio": False, "optimizer": "lbfgs", "lr": None, "init": "content",
          "pooling": "max", "tv_weight": 0.0, "preserve_color": "none", "seed": None, "precision": "auto", "levels": 1,
          "anchor": 0.0, "preview": None, "tile": 0, "tile_overlap": 48, "compile": False}


def test_a_look_without_regions_dumps_and_hashes_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.shot import identity
    from impasto.shot.config import Shot

    assert Look().model_dump(mode="json") == BEFORE
    assert json.loads(Look().model_dump_json()) == BEFORE
    assert Look(u=3).model_dump(mode="json", exclude={"size", "compile"}, exclude_defaults=True) == {"u": 3.0}
    save_look(tmp_path / "look.toml", LookFile())
    assert "regions" not in (tmp_path / "look.toml").read_text()
    # The shot look hash with file digests pinned: empty regions leave it alone, regions change it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.png").write_bytes(b"")
    monkeypatch.setattr(identity, "cached_digest", lambda p: "d")

    def shot(look: Look) -> Shot:
        return Shot(name="cs010", plate="p.####.exr", frames="1001-1002", look=look, styles=["s.png"])

    plain = identity.look_hash(shot(Look(u=3, iterations=5, seed=2)))
    assert plain == identity.look_hash(shot(Look(u=3, iterations=5, seed=2, regions=[])))
    assert plain != identity.look_hash(shot(Look(u=3, iterations=5, seed=2, regions=[{"matte": "fg.png"}])))


def test_region_paths_follow_the_look_file(tmp_path: Path) -> None:
    from impasto.look import rebase_regions

    look = Look(regions=[{"matte": "mattes/fg.####.exr", "styles": ["a.png", "/abs/b.png"]}, {"matte": "alpha"}])
    moved = rebase_regions(look, tmp_path / "looks")
    assert moved.regions[0].matte == str(tmp_path / "looks/mattes/fg.####.exr")
    assert moved.regions[0].styles == [str(tmp_path / "looks/a.png"), "/abs/b.png"]
    assert moved.regions[1].matte == "alpha" and look.regions[0].matte == "mattes/fg.####.exr"
    assert rebase_regions(Look(), tmp_path) == Look()


def test_regions_in_a_shots_inline_look(tmp_path: Path) -> None:
    from impasto.shot.config import load_shot, save_shot

    (tmp_path / "cs010.toml").write_text(
        'name = "cs010"\nplate = "plates/cs010.####.exr"\nframes = "1001-1002"\nstyles = ["style.png"]\n'
        '[look]\nu = 6\n[[look.regions]]\nname = "fg"\nmatte = "mattes/cs010_fg.####.exr"\nu = 2\nfeather = 4\n')
    shot = load_shot(tmp_path / "cs010.toml")
    assert shot.look is not None and [(r.name, r.u, r.matte) for r in shot.look.regions] == [
        ("fg", 2.0, "mattes/cs010_fg.####.exr")]
    save_shot(tmp_path / "again.toml", shot)
    assert "mattes/cs010_fg.####.exr" in (tmp_path / "again.toml").read_text()  # tomli_w may write it inline
    assert load_shot(tmp_path / "again.toml").look == shot.look
    (tmp_path / "bad.toml").write_text('name = "cs010"\nplate = "p.####.exr"\nframes = "1001"\nstyles = ["s.png"]\n'
                                       '[look]\n[[look.regions]]\nu = 2\n')
    with pytest.raises(UsageError, match="matte"):
        load_shot(tmp_path / "bad.toml")


def test_matte_digests_and_missing_frames_for_a_shot(tmp_path: Path) -> None:
    write(tmp_path / "fg.1001.exr", half_frame()[..., None], ["A"])
    write(tmp_path / "fg.1002.exr", 1 - half_frame()[..., None], ["A"])
    write(tmp_path / "sky.exr", half_frame()[..., None], ["A"])
    look = Look(regions=[{"name": "fg", "matte": "fg.####.exr"}, {"name": "sky", "matte": "sky.exr"},
                         {"name": "plate", "matte": "alpha"}])
    one, two = matte_digests(look, 1001, tmp_path), matte_digests(look, 1002, tmp_path)
    assert set(one) == {"fg", "sky"} and one["fg"] != two["fg"] and one["sky"] == two["sky"]
    assert missing_mattes(look, [1001, 1002, 1003, 1005], tmp_path) == {"fg": [1003, 1005]}
    (tmp_path / "sky.exr").unlink()
    assert missing_mattes(look, [1001], tmp_path) == {"sky": [1001]}
