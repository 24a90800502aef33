"""Production frames through OpenImageIO: EXR half/float RGBA, DPX 10-bit, TIFF 8/16, PNG, JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from impasto.errors import UsageError
from impasto.io.frames import (
    Frame,
    FrameSpec,
    premultiply,
    read_frame,
    unpremultiply,
    with_pixels,
    write_frame,
)

W, H = 64, 48


def plate_pixels(seed: int = 0, hdr: bool = True) -> np.ndarray:
    """RGBA with linear values above 1 in places and a soft alpha, like a keyed plate."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgba = np.empty((H, W, 4), np.float32)
    rgba[..., 0] = xx / W * (4.0 if hdr else 1.0)
    rgba[..., 1] = yy / H
    rgba[..., 2] = rng.random((H, W), dtype=np.float32) * 0.5
    rgba[..., 3] = np.clip(xx / (W / 2), 0, 1)
    return rgba


def write_exr(path: Path, rgba: np.ndarray, fmt=oiio.HALF, compression: str = "piz") -> None:
    """A plate as a compositor would write it: data window inside a bigger display window, metadata."""
    spec = oiio.ImageSpec(W, H, 4, fmt)
    spec.channelnames = ("R", "G", "B", "A")
    spec.alpha_channel = 3
    spec.x, spec.y = 4, 2
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, W + 8, H + 4
    spec.attribute("compression", compression)
    spec.attribute("Artist", "plate dept")
    spec.attribute("capDate", "2017:01:20 10:00:00")
    spec.attribute("cameraISO", 800.0)
    spec.attribute("worldToCamera", oiio.TypeDesc("matrix"), tuple(float(i) for i in range(16)))
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_image(rgba)
    assert out.close()


def oiio_read(path: Path) -> tuple[oiio.ImageSpec, np.ndarray]:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    px = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
    inp.close()
    return spec, np.asarray(px).reshape(spec.height, spec.width, spec.nchannels)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("fmt, name", [(oiio.HALF, "half"), (oiio.FLOAT, "float")])
def test_exr_rgba_roundtrip_keeps_everything(tmp_path: Path, fmt, name: str) -> None:
    src, dst = tmp_path / "plate.1001.exr", tmp_path / "paint.1001.exr"
    rgba = plate_pixels()
    write_exr(src, rgba, fmt)
    frame = read_frame(src)
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.float32
    assert frame.alpha is not None and frame.alpha.shape == (H, W)
    assert frame.rgb.max() > 3.5  # scene-linear values are not clamped
    s = frame.spec
    assert (s.pixel_format, s.compression, s.file_format) == (name, "piz", "openexr")
    assert s.data_window == (4, 2, W, H) and s.display_window == (0, 0, W + 8, H + 4)
    assert s.channels == ("R", "G", "B", "A") and s.has_alpha

    assert write_frame(dst, frame) == dst
    spec, px = oiio_read(dst)
    assert str(spec.format) == name and spec.nchannels == 4 and spec.alpha_channel == 3
    assert spec.get_string_attribute("compression") == "piz"
    assert (spec.x, spec.y, spec.width, spec.height) == (4, 2, W, H)
    assert (spec.full_width, spec.full_height) == (W + 8, H + 4)
    assert spec.get_string_attribute("Artist") == "plate dept"
    assert spec.get_float_attribute("cameraISO") == 800.0
    assert tuple(spec.getattribute("worldToCamera")) == tuple(float(i) for i in range(16))
    expected = rgba.astype(np.float16).astype(np.float32) if name == "half" else rgba
    np.testing.assert_array_equal(px, expected)  # bit-exact: nothing clamped or re-encoded
    assert leftovers(tmp_path) == []


def test_write_like_another_spec_and_painted_pixels(tmp_path: Path) -> None:
    src = tmp_path / "plate.exr"
    write_exr(src, plate_pixels(), oiio.HALF, "dwaa")
    plate = read_frame(src)
    painted = with_pixels(plate, np.full((H, W, 3), 0.25, np.float32))
    assert painted.alpha is plate.alpha and painted.spec == plate.spec
    # float output like a float spec, alpha passed through, plate metadata kept
    like = FrameSpec(W, H, pixel_format="float", compression="zip", file_format="openexr",
                     attributes={"Artist": "paint"}, attribute_types={"Artist": "string"})
    out = write_frame(tmp_path / "paint.exr", painted, like=like)
    spec, px = oiio_read(out)
    assert str(spec.format) == "float" and spec.get_string_attribute("compression") == "zip"
    assert spec.get_string_attribute("Artist") == "paint"
    np.testing.assert_allclose(px[..., 3], plate.alpha)
    np.testing.assert_allclose(px[..., :3], 0.25)
    # a size that does not match the plate's data window is written without it
    small = Frame(np.zeros((H // 2, W // 2, 3), np.float32), spec=plate.spec)
    spec2, _ = oiio_read(write_frame(tmp_path / "small.exr", small))
    assert (spec2.x, spec2.y, spec2.full_width, spec2.full_height) == (0, 0, W // 2, H // 2)


def test_dpx_10bit_and_integer_formats(tmp_path: Path) -> None:
    rgb = plate_pixels(hdr=False)[..., :3]
    frame = Frame(rgb, alpha=None, spec=FrameSpec(W, H, pixel_format="uint10"))
    spec, px = oiio_read(write_frame(tmp_path / "scan.1001.dpx", frame))
    assert spec.get_int_attribute("oiio:BitsPerSample") == 10 and spec.nchannels == 3
    assert np.abs(px - rgb).max() <= 0.6 / 1023  # rounded, not truncated (that would be up to 1/1023)
    back = read_frame(tmp_path / "scan.1001.dpx")
    assert back.spec.pixel_format == "uint10" and back.alpha is None
    # writing it again keeps 10 bits without being told
    spec, _ = oiio_read(write_frame(tmp_path / "again.dpx", back))
    assert spec.get_int_attribute("oiio:BitsPerSample") == 10

    for depth, step in (("uint8", 255), ("uint16", 65535)):
        f = Frame(rgb, spec=FrameSpec(W, H, pixel_format=depth))
        spec, px = oiio_read(write_frame(tmp_path / f"t_{depth}.tif", f))
        assert str(spec.format) == depth
        assert np.abs(px - rgb).max() <= 0.5 / step + 1e-6

    # PNG keeps alpha; JPEG has none; both default to 8 bits; out-of-range values clip rather than wrap
    hdr = plate_pixels()
    f = Frame(hdr[..., :3], alpha=np.ones((H, W), np.float32))
    png = read_frame(write_frame(tmp_path / "a.png", f))
    assert png.spec.pixel_format == "uint8" and png.alpha is not None
    assert png.rgb.max() == 1.0 and png.rgb.min() >= 0.0
    jpg = read_frame(write_frame(tmp_path / "a.jpg", f))
    assert jpg.alpha is None and jpg.rgb.shape == (H, W, 3)
    assert leftovers(tmp_path) == []


def test_grey_frames_become_rgb(tmp_path: Path) -> None:
    grey = np.linspace(0, 1, W * H, dtype=np.float32).reshape(H, W, 1)
    spec = oiio.ImageSpec(W, H, 1, oiio.UINT16)
    out = oiio.ImageOutput.create(str(tmp_path / "g.tif"))
    out.open(str(tmp_path / "g.tif"), spec)
    out.write_image(grey)
    out.close()
    f = read_frame(tmp_path / "g.tif")
    assert f.rgb.shape == (H, W, 3) and f.alpha is None
    np.testing.assert_allclose(f.rgb[..., 1], grey[..., 0], atol=1e-4)


def test_layered_channel_names(tmp_path: Path) -> None:
    """A multi-channel EXR ('beauty.R' ..., 'Z'): the beauty RGBA is the frame, other channels are not painted."""
    spec = oiio.ImageSpec(W, H, 5, oiio.FLOAT)
    spec.channelnames = ("beauty.R", "beauty.G", "beauty.B", "beauty.A", "Z")
    spec.alpha_channel = 3
    px = np.random.default_rng(6).random((H, W, 5), dtype=np.float32)
    out = oiio.ImageOutput.create(str(tmp_path / "l.exr"))
    out.open(str(tmp_path / "l.exr"), spec)
    out.write_image(px)
    out.close()
    f = read_frame(tmp_path / "l.exr")
    np.testing.assert_array_equal(f.rgb, px[..., :3])
    np.testing.assert_array_equal(f.alpha, px[..., 3])


def test_bad_frames_are_one_sentence_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_frame(tmp_path / "nope.exr")
    good = tmp_path / "good.exr"
    write_exr(good, plate_pixels(), oiio.HALF, "none")
    data = good.read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="corrupt or truncated"):
        read_frame(tmp_path / "cut.exr")
    (tmp_path / "text.exr").write_text("not an image\n")
    with pytest.raises(UsageError, match="not an image"):
        read_frame(tmp_path / "text.exr")
    frame = read_frame(good)
    with pytest.raises(UsageError, match="extension"):
        write_frame(tmp_path / "x.gif", frame)
    with pytest.raises(UsageError, match="does not exist"):
        write_frame(tmp_path / "no" / "x.exr", frame)
    with pytest.raises(UsageError, match="RGB"):
        Frame(np.zeros((4, 4)))
    assert leftovers(tmp_path) == []


def test_premultiply_roundtrip_is_exact() -> None:
    rgba = plate_pixels()
    rgba[0, 0, 3] = 0.0
    straight = unpremultiply(rgba[..., :3], rgba[..., 3])
    np.testing.assert_allclose(premultiply(straight, rgba[..., 3]), rgba[..., :3], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(straight[0, 0], rgba[0, 0, :3])  # zero alpha leaves the pixel alone
    rgb = rgba[..., :3]
    assert premultiply(rgb, None) is rgb and unpremultiply(rgb, None) is rgb
