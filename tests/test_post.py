"""Post: Lanczos upscale, denoise, dissolve weights and mix (through real EXR files), review movies (PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio
import pytest

from impasto.errors import UsageError
from impasto.io.frames import Frame, read_frame, write_frame
from impasto.io.sequence import FramePattern, movie_info
from impasto.shot.post import denoise, dissolve_weight, mix, upscale
from impasto.shot.movie import (
    available_encoders,
    draw_burn_in,
    frame_timecode,
    write_review_movie,
)

W, H = 64, 48


def test_upscale_lanczos() -> None:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ramp = np.stack([xx / W, yy / H, np.full_like(xx, 0.5)], axis=-1)
    big = upscale(ramp)
    assert big.shape == (2 * H, 2 * W, 3) and big.dtype == np.float32
    np.testing.assert_allclose(big[..., 2], 0.5, atol=1e-5)  # a flat channel stays flat
    inner = big[8:-8, 8:-8, 0]
    expected = ((np.arange(2 * W) + 0.5) / 2 - 0.5)[8:-8] / W  # pixel centres of the larger image
    np.testing.assert_allclose(inner, np.broadcast_to(expected, inner.shape), atol=2e-3)
    assert upscale(ramp, size=(100, 30)).shape == (30, 100, 3)
    assert upscale(ramp[..., 0], factor=1.5).shape == (72, 96)  # alpha planes too
    hdr = ramp * 10.0
    assert upscale(hdr).max() > 9.0  # not clamped
    with pytest.raises(UsageError, match="factor"):
        upscale(ramp, factor=0)


@pytest.mark.parametrize("method", ["bilateral", "nl_means", "tv"])
def test_denoise_methods_remove_noise(method: str) -> None:
    # piecewise smooth, like a painting's colour blocks: a soft ramp with a hard edge and a flat disc
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    clean = np.stack([0.2 + 0.5 * xx / 64, np.where(xx > 30, 0.8, 0.2), np.where((xx - 40) ** 2 + (yy - 20) ** 2 < 150, 0.9, 0.3)], -1)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.08, clean.shape), 0, 1).astype(np.float32)
    out = denoise(noisy, method, strength=0.6)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert np.abs(out - clean).mean() < 0.8 * np.abs(noisy - clean).mean()
    strong = denoise(noisy, method, strength=1.0)
    assert np.abs(np.diff(strong, axis=1)).mean() < np.abs(np.diff(out, axis=1)).mean()  # stronger is flatter
    np.testing.assert_array_equal(denoise(noisy, method, 0.0), noisy)


def test_denoise_bad_arguments() -> None:
    img = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(UsageError, match="unknown; use one of bilateral, nl_means, tv"):
        denoise(img, "median")
    with pytest.raises(UsageError, match="between 0 and 1"):
        denoise(img, "tv", 2.0)


def test_dissolve_weights() -> None:
    head, tail = (1001, 1005), (1016, 1020)
    w = {f: dissolve_weight(f, head, tail) for f in range(995, 1025)}
    assert w[995] == w[1001] == 0.0 and w[1002] == 0.25 and w[1003] == 0.5 and w[1005] == 1.0
    assert all(w[f] == 1.0 for f in range(1005, 1017))
    assert w[1018] == 0.5 and w[1020] == w[1024] == 0.0
    s = dissolve_weight(1002, head, None, "smoothstep")
    assert s == pytest.approx(0.25 * 0.25 * (3 - 0.5))  # 3t²-2t³ at t=0.25
    assert dissolve_weight(1003, head, None, "smoothstep") == pytest.approx(0.5)
    assert dissolve_weight(1, None, None) == 1.0
    assert [dissolve_weight(f, (10, 10)) for f in (9, 10)] == [0.0, 1.0]  # a cut
    assert dissolve_weight(1010, (1001, 1020), (1005, 1015)) == pytest.approx(9 / 19)  # overlap: the smaller
    with pytest.raises(UsageError, match="backwards"):
        dissolve_weight(1, (10, 5))
    with pytest.raises(UsageError, match="curve 'cubic' is unknown"):
        dissolve_weight(1, (1, 5), curve="cubic")


def test_dissolve_frames_equal_the_expected_mix(tmp_path: Path) -> None:
    """Plate and painted linear EXRs mixed over the head of a shot: every written frame is w·paint + (1-w)·plate."""
    rng = np.random.default_rng(5)
    plate_pat = FramePattern(tmp_path / "plate.####.exr")
    out_pat = FramePattern(tmp_path / "paint_v001.%04d.exr")
    head, frames = (1001, 1004), range(1000, 1007)
    alpha = np.linspace(0, 1, W, dtype=np.float32)[None, :].repeat(H, 0)
    for f in frames:
        write_frame(plate_pat.path(f), Frame(rng.random((H, W, 3), dtype=np.float32) * 3.0, alpha))
    painted = {f: rng.random((H, W, 3), dtype=np.float32) for f in frames}
    for f in frames:
        plate = read_frame(plate_pat.path(f))
        w = dissolve_weight(f, head, None, "linear")
        write_frame(out_pat.path(f), Frame(mix(painted[f], plate.rgb, w), plate.alpha, plate.spec))
    for f in frames:
        w = min(1.0, max(0.0, (f - 1001) / 3))
        plate = read_frame(plate_pat.path(f)).rgb
        expected = (w * painted[f] + (1 - w) * plate).astype(np.float16).astype(np.float32)
        got = read_frame(out_pat.path(f))
        np.testing.assert_allclose(got.rgb, expected, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(got.alpha, read_frame(plate_pat.path(f)).alpha)
        if w == 0.0:
            np.testing.assert_array_equal(got.rgb, plate)  # before the dissolve: the plate exactly
    with pytest.raises(UsageError, match="must match"):
        mix(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)), 0.5)


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("codec, name, pix_fmt", [("prores", "r.mov", "yuv422p10le"), ("h264", "r.mp4", "yuv420p")])
def test_review_movie(tmp_path: Path, codec: str, name: str, pix_fmt: str) -> None:
    if available_encoders()[codec] is None:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    frames = [(1001 + i, np.full((47, 63, 3), 0.1 + 0.06 * i, np.float32)) for i in range(12)]
    out = write_review_movie(iter(frames), tmp_path / name, fps=24, codec=codec, burn_in=False)
    assert out == tmp_path / name and count_frames(out) == 12
    info = movie_info(out)
    assert (info.width, info.height, info.pix_fmt) == (64, 48, pix_fmt)  # padded to even sizes
    with av.open(str(out)) as c:
        assert c.streams.video[0].metadata.get("timecode") == "00:00:41:17"  # frame 1001 at 24 fps
    if codec == "prores":
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.profile in ("HQ", "3", 3)
    with av.open(str(out)) as c:  # levels survive the BT.709 round trip
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32) / 255
    assert abs(float(first.mean()) - 0.1) < 0.015
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_timecode() -> None:
    assert frame_timecode(0, 24) == "00:00:00:00"
    assert frame_timecode(1001, 24) == "00:00:41:17"
    assert frame_timecode(86400, 25) == "00:57:36:00"
    assert frame_timecode(1001, 23.976) == "00:00:41:17"  # nominal 24, non-drop


def test_review_burn_in_and_errors(tmp_path: Path) -> None:
    grey = np.full((96, 128, 3), 0.5, np.float32)
    burnt = draw_burn_in(grey, "1001")
    assert burnt.shape == grey.shape and burnt.max() > 0.8  # white digits
    assert np.array_equal(burnt[:40], grey[:40])  # only the corner box is touched
    assert not np.array_equal(draw_burn_in(grey, "1001"), draw_burn_in(grey, "1002"))
    out = write_review_movie([(7, grey), (8, grey)], tmp_path / "b.mov", burn_in=True)
    assert count_frames(out) == 2
    with pytest.raises(UsageError, match="unknown; use one of prores, h264"):
        write_review_movie([(1, grey)], tmp_path / "x.mov", codec="vp9")
    with pytest.raises(UsageError, match="No frames"):
        write_review_movie([], tmp_path / "empty.mov")
    with pytest.raises(UsageError, match="first was"):
        write_review_movie([(1, grey), (2, grey[:50])], tmp_path / "mixed.mov")
    with pytest.raises(UsageError, match=".mov"):
        write_review_movie([(1, grey)], tmp_path / "x.mp4", codec="prores")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mov"]  # nothing half-written


def test_oiio_can_render_text() -> None:
    """The burn-in draws with OIIO's bundled fonts here (Pillow is only the fallback)."""
    buf = oiio.ImageBuf(oiio.ImageSpec(64, 32, 3, oiio.FLOAT))
    assert oiio.ImageBufAlgo.render_text(buf, 2, 24, "1001", 16, "DroidSansMono", (1.0, 1.0, 1.0))
