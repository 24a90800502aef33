"""Frame patterns (fileseq, Nuke-style #), frame ranges, files present/missing, movies in (PyAV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media import write_movie

from impasto.errors import UsageError
from impasto.io.sequence import (
    FramePattern,
    count_text,
    existing_frames,
    format_frame_range,
    is_movie,
    movie_frames,
    movie_info,
    parse_frame_range,
    single_frame_file,
)


@pytest.mark.parametrize(
    "text, f7, f1001",
    [
        ("plates/cs010.####.exr", "plates/cs010.0007.exr", "plates/cs010.1001.exr"),  # four # = four digits
        ("plates/cs010.#.exr", "plates/cs010.7.exr", "plates/cs010.1001.exr"),  # one # = one digit (not fileseq's 4)
        ("plates/cs010.##.exr", "plates/cs010.07.exr", "plates/cs010.1001.exr"),
        ("plates/cs010.%04d.exr", "plates/cs010.0007.exr", "plates/cs010.1001.exr"),
        ("plates/cs010.%d.exr", "plates/cs010.7.exr", "plates/cs010.1001.exr"),
        ("plates/cs010.@@@@.exr", "plates/cs010.0007.exr", "plates/cs010.1001.exr"),
        ("plates/cs010.$F4.exr", "plates/cs010.0007.exr", "plates/cs010.1001.exr"),
        ("cs010_######.dpx", "cs010_000007.dpx", "cs010_001001.dpx"),
    ],
)
def test_pattern_forms(text: str, f7: str, f1001: str) -> None:
    pat = FramePattern(text)
    assert pat.path(7) == Path(f7) and pat.path(1001) == Path(f1001)
    assert FramePattern(pat.hashes) == pat and FramePattern(pat.printf) == pat  # both spellings mean the same


def test_pattern_spellings() -> None:
    pat = FramePattern("/shots/cs010/plate.%04d.exr")
    assert pat.hashes == "/shots/cs010/plate.####.exr" and str(pat) == pat.hashes
    assert pat.printf == "/shots/cs010/plate.%04d.exr"
    assert pat.directory == Path("/shots/cs010") and pat.extension == ".exr" and pat.pad == 4
    with pytest.raises(UsageError, match="no frame number placeholder"):
        FramePattern("plates/cs010.exr")


def test_parse_frame_range() -> None:
    assert parse_frame_range("1001-1005") == [1001, 1002, 1003, 1004, 1005]
    assert parse_frame_range("1001-1010x3") == [1001, 1004, 1007, 1010]
    assert parse_frame_range("1001,1005") == [1001, 1005]
    assert parse_frame_range(" 1001 ") == [1001]
    assert parse_frame_range("1003-1004,1001-1003") == [1001, 1002, 1003, 1004]
    assert parse_frame_range("-2-1") == [-2, -1, 0, 1]
    for bad, msg in (("1100-1001", "backwards"), ("", "empty"), ("  ", "empty"), ("10-20x0", "step"),
                     ("abc", "not like"), ("1001-", "not like"), ("1001,,1002", "not like")):
        with pytest.raises(UsageError, match=msg):
            parse_frame_range(bad)
    assert format_frame_range([1005, 1001, 1002, 1003, 1010]) == "1001-1003,1005,1010"
    assert format_frame_range([]) == ""


def test_existing_and_missing_frames(tmp_path: Path) -> None:
    pat = FramePattern(tmp_path / "plate.####.exr")
    for f in (1001, 1002, 1004):
        pat.path(f).write_bytes(b"x")
    pat.path(1005).write_bytes(b"")  # an empty file is not a frame
    (tmp_path / ".plate.1003.tmp-99.exr").write_bytes(b"x")  # a half-written temp file neither
    (tmp_path / "plate.01003.exr").write_bytes(b"x")  # other padding: another sequence
    present, missing = existing_frames(pat, parse_frame_range("1001-1005"))
    assert sorted(present) == [1001, 1002, 1004] and present[1004] == pat.path(1004)
    assert missing == [1003, 1005]
    assert pat.frames_on_disk() == [1001, 1002, 1004, 1005]
    assert existing_frames(str(pat), [1001])[0] == {1001: pat.path(1001)}
    assert FramePattern(tmp_path / "none" / "x.####.exr").frames_on_disk() == []


def test_movie_frames_numbered_from_first_frame(tmp_path: Path) -> None:
    levels = [0.1 + 0.07 * i for i in range(10)]
    mov = tmp_path / "plate.mov"
    write_movie(mov, levels)
    assert is_movie(mov) and is_movie("a/B.MP4") and not is_movie("plate.####.exr")
    info = movie_info(mov)
    assert (info.width, info.height, info.fps) == (64, 48, 24.0)
    got = list(movie_frames(mov, first_frame=1001))
    assert [n for n, _ in got] == list(range(1001, 1011))
    for (n, rgb), level in zip(got, levels):
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.float32
        assert abs(float(rgb.mean()) - level) < 0.02
    some = dict(movie_frames(mov, first_frame=1001, frames=[1003, 1005]))
    assert sorted(some) == [1003, 1005]
    np.testing.assert_array_equal(some[1005], got[4][1])
    # 10-bit sources are decoded at 16 bits
    deep = tmp_path / "deep.mov"
    write_movie(deep, levels[:3], codec="prores_ks", pix_fmt="yuv422p10le")
    first = next(movie_frames(deep, 1))
    assert first[0] == 1 and abs(float(first[1].mean()) - levels[0]) < 0.02
    with pytest.raises(UsageError, match="does not exist"):
        list(movie_frames(tmp_path / "none.mov", 1))
    (tmp_path / "junk.mov").write_text("not a movie")
    with pytest.raises(UsageError, match="not a movie"):
        list(movie_frames(tmp_path / "junk.mov", 1))


def test_one_numbered_file_is_told_from_a_pattern() -> None:
    pat, frame = single_frame_file("plates/p.1001.exr")
    assert pat.hashes == "plates/p.####.exr" and frame == 1001
    assert single_frame_file("plates/p.0042.dpx")[1] == 42
    for not_one in ("plates/p.####.exr", "plates/p.%04d.exr", "plates/p.@@@@.exr", "plates/p.$F4.exr", "plates/p.exr",
                    "clip.1001.mov"):
        assert single_frame_file(not_one) is None, not_one
    assert count_text(1) == "1 frame" and count_text(0) == "0 frames" and count_text(3, "style") == "3 styles"
