"""Colour with OpenColorIO: plate space <-> display-referred, round trips, names, $OCIO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio
import pytest

from impasto.errors import UsageError
from impasto.io.frames import Frame, premultiply, read_frame, unpremultiply, write_frame
from impasto.io.ocio import ColourConfig, convert, from_display, get_config, to_display

W, H = 64, 48


def linear_plate(tmp_path: Path) -> Path:
    """A half-float linear Rec.709 RGBA EXR with values 0-1 (the range an sRGB display can hold) and soft alpha."""
    rng = np.random.default_rng(3)
    rgba = rng.random((H, W, 4), dtype=np.float32)
    rgba[..., 3] = np.linspace(0.05, 1.0, W, dtype=np.float32)[None, :]
    rgba[..., :3] *= rgba[..., 3:4]  # premultiplied, as EXRs are
    path = tmp_path / "lin.1001.exr"
    spec = oiio.ImageSpec(W, H, 4, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A")
    spec.alpha_channel = 3
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(rgba)
    out.close()
    return path


def test_linear_in_linear_out_roundtrip_through_files(tmp_path: Path) -> None:
    """An unpainted frame: EXR -> display (what the network sees) -> back to linear -> EXR, within 1e-3."""
    cfg = get_config()
    plate = read_frame(linear_plate(tmp_path))
    straight = unpremultiply(plate.rgb, plate.alpha)
    shown = cfg.to_display(straight, "Linear Rec.709 (sRGB)", view="Un-tone-mapped")
    assert shown.dtype == np.float32 and shown.min() >= 0.0 and shown.max() <= 1.0
    assert not np.allclose(shown, straight, atol=0.05)  # it really was encoded for the display
    linear = cfg.from_display(shown, "Linear Rec.709 (sRGB)", view="Un-tone-mapped")
    out = write_frame(tmp_path / "paint.1001.exr", Frame(premultiply(linear, plate.alpha), plate.alpha, plate.spec))
    back = read_frame(out)
    assert back.spec.pixel_format == "half"
    assert np.abs(back.rgb - plate.rgb).max() < 1e-3
    np.testing.assert_array_equal(back.alpha, plate.alpha)


def test_aces_view_inverts_inside_its_range() -> None:
    """ACEScg through the default ACES 2.0 SDR view and back: within 1e-3 for in-gamut values up to 0.5."""
    cfg = get_config()
    rng = np.random.default_rng(1)
    rec709 = rng.random((32, 32, 3), dtype=np.float32) * 0.5
    acescg = cfg.convert(rec709, "lin_srgb", "ACEScg")
    shown = cfg.to_display(acescg, "ACEScg")
    assert cfg.view("ACEScg").startswith("ACES")
    back = cfg.from_display(shown, "ACEScg")
    assert np.abs(back - acescg).max() < 1e-3
    # display white is beyond the tone curve's inverse: it runs far above 1, `ceiling` bounds it
    white = np.ones((1, 1, 3), np.float32)
    assert cfg.from_display(white, "ACEScg").min() > 10.0
    assert cfg.from_display(white, "ACEScg", ceiling=4.0).max() == 4.0


def test_colour_space_pair_and_known_values() -> None:
    lin = np.array([[[0.0, 0.18, 1.0]]], np.float32)
    srgb = convert(lin, "Linear Rec.709 (sRGB)", "sRGB - Texture")  # an OCIO v1 name, resolved by alias
    np.testing.assert_allclose(srgb[0, 0], [0.0, 0.4613561, 1.0], atol=1e-4)
    np.testing.assert_allclose(convert(srgb, "srgb_tx", "lin_srgb"), lin, atol=1e-4)
    # a camera log space from the studio config goes to ACEScg and back
    logc = np.random.default_rng(2).random((8, 8, 3), dtype=np.float32) * 0.8
    there = convert(logc, "ARRI LogC4", "ACEScg")
    np.testing.assert_allclose(convert(there, "ACEScg", "ARRI LogC4"), logc, atol=1e-4)


def test_display_encoded_inputs_are_shown_as_they_are() -> None:
    cfg = get_config()
    assert cfg.view("sRGB Encoded Rec.709 (sRGB)") == "Un-tone-mapped"
    img = np.random.default_rng(4).random((16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(to_display(img, "srgb_tx"), img, atol=1e-4)
    np.testing.assert_allclose(from_display(img, "srgb_tx"), img, atol=1e-4)
    # HDR values are clipped to what the display holds
    hot = np.full((2, 2, 3), 50.0, np.float32)
    assert to_display(hot, "ACEScg").max() <= 1.0


def test_unknown_names_suggest_close_matches() -> None:
    cfg = get_config()
    with pytest.raises(UsageError, match="'ACEScgg' is not in the OCIO config.*did you mean 'ACEScg'"):
        to_display(np.zeros((2, 2, 3), np.float32), "ACEScgg")
    with pytest.raises(UsageError, match="Display 'sRGB'.*'sRGB - Display'"):
        cfg.display("sRGB")
    with pytest.raises(UsageError, match="View 'ACES 1.0 - SDR Video' is not a view"):
        cfg.view("ACEScg", view="ACES 1.0 - SDR Video")
    assert cfg.colour_space("scene_linear") == "ACEScg"  # roles work


def test_ocio_environment_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = ocio.Config.CreateRaw()
    raw.setName("studio test config")
    path = tmp_path / "config.ocio"
    path.write_text(raw.serialize())
    monkeypatch.setenv("OCIO", str(path))
    cfg = get_config()
    assert cfg.source == str(path) and cfg.name == "studio test config"
    assert cfg.colour_spaces() == ["raw"]
    with pytest.raises(UsageError, match="'ACEScg' is not in the OCIO config 'studio test config'"):
        cfg.colour_space("ACEScg")
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(UsageError, match=r"\$OCIO names .*missing.ocio', which does not exist"):
        ColourConfig()
    # an explicit config wins over $OCIO
    assert ColourConfig("ocio://cg-config-latest").name.startswith("cg-config")
