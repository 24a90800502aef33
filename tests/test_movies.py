"""Movie plates: explicit numbering from a first frame (default 1001), `impasto frames grab/info`, `movie.mov@N` as
an image everywhere one is read, and fast-train frames spread over the chosen range, passing over near-black ones.

Every movie is made here with PyAV: 64×48, twelve frames, frame i flat grey at LEVELS[i], so a test can tell which
picture of the movie it was given.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media import write_movie
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.fast.train import read_training_frames
from impasto.io.images import read_image, write_image
from impasto.io.sequence import (
    is_near_black,
    movie_frame_count,
    movie_frames,
    read_movie_frame,
    split_movie_frame,
    split_movie_range,
    spread_movie_frames,
)
from impasto.io.tensors import load_rgb
from impasto.shot.config import load_shot
from impasto.shot.setup import init_shot

runner = CliRunner()
LEVELS = [0.1 + 0.07 * i for i in range(12)]


def picture(rgb: np.ndarray, levels: list[float] = LEVELS) -> int:
    """Which picture of the movie a decoded frame is, by its grey level."""
    return int(np.argmin([abs(float(rgb.mean()) - v) for v in levels]))


@pytest.fixture()
def movie(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "style.png", style_rgb)
    return write_movie(tmp_path / "clip.mov", LEVELS)


def test_frame_numbers_select_from_the_first_frame(movie: Path) -> None:
    """--frames 1004-1006 of a movie numbered from 1001 is its pictures 3-5, not 0-2 (the bug in issue 15)."""
    _, shot = init_shot("mm010", "clip.mov", "1004-1006", None, styles=["style.png"])
    assert shot.first_frame == 1001 and shot.movie_first_frame == 1001
    assert [shot.source_index(f) for f in shot.frame_list()] == [3, 4, 5]
    got = dict(movie_frames(shot.plate_path(), shot.movie_first_frame, shot.frame_list()))
    assert {n: picture(rgb) for n, rgb in got.items()} == {1004: 3, 1005: 4, 1006: 5}
    assert 'first_frame = 1001' in (movie.parent / "mm010.toml").read_text()  # explicit in the shot file
    # another numbering: the movie's first picture is 1040
    _, shot = init_shot("mm011", "clip.mov", "1041-1042", None, styles=["style.png"], first_frame=1040)
    assert [shot.source_index(f) for f in shot.frame_list()] == [1, 2]
    assert load_shot(movie.parent / "mm011.toml").movie_first_frame == 1040
    # without --frames: the whole movie from the first frame
    _, shot = init_shot("mm012", "clip.mov", None, None, styles=["style.png"], first_frame=1)
    assert shot.frames == "1-12" and shot.source_index(1) == 0


def test_frames_outside_the_movie_are_refused_or_warned(movie: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "mm010", "--plate", "clip.mov", "--frames", "990-1002", "--style", "style.png"])
    assert res.exit_code == 2 and "Frames 990-1000 come before the first frame of movie 'clip.mov'" in res.output
    res = runner.invoke(app, ["shot", "init", "mm010", "--plate", "clip.mov", "--frames", "2000-2005", "--style", "style.png"])
    assert res.exit_code == 2 and "holds 1001-1012 (12 frames)" in res.output
    assert not (movie.parent / "mm010.toml").exists()
    res = runner.invoke(app, ["shot", "init", "mm010", "--plate", "clip.mov", "--frames", "1010-1014", "--style", "style.png"])
    assert res.exit_code == 0, res.output
    assert "warning: plate frames 1013-1014 (2 of 5 frames) are past the end of movie 'clip.mov'" in res.output
    # first_frame belongs to movies
    (movie.parent / "plates").mkdir()
    write_image(movie.parent / "plates/p.1001.png", np.full((48, 64, 3), 0.5))
    with pytest.raises(UsageError, match="--first-frame numbers a movie"):
        init_shot("sq", "plates/p.####.png", None, None, styles=["style.png"], first_frame=1)


def test_shot_init_says_which_pictures(movie: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "mm010", "--plate", "clip.mov", "--first-frame", "1040", "--frames", "1043-1045",
                              "--style", "style.png"])
    assert res.exit_code == 0, res.output
    assert "mm010 frames 1043-1045 (3 frames; movie pictures 3-5 of clip.mov, numbered from 1040)" in res.output
    res = runner.invoke(app, ["shot", "init", "mm011", "--plate", "clip.mov", "--frames", "1005", "--style", "style.png"])
    assert res.exit_code == 0 and "(1 frame; movie pictures 4 of clip.mov" in res.output
    assert "--first-frame" in runner.invoke(app, ["shot", "init", "--help"]).output


def test_frames_grab_writes_the_numbered_frame(movie: Path) -> None:
    res = runner.invoke(app, ["frames", "grab", "clip.mov", "--frame", "1005", "-o", "still.png"])
    assert res.exit_code == 0, res.output
    assert "wrote still.png: frame 1005 of clip.mov (picture 4, numbered from 1001)" in res.output
    assert "impasto stylize clip.mov@1005" in res.output
    assert picture(read_image("still.png")) == 4
    res = runner.invoke(app, ["frames", "grab", "clip.mov", "--frame", "3", "--first-frame", "1", "-o", "first.png"])
    assert res.exit_code == 0 and picture(read_image("first.png")) == 2
    for frame, message in (("1000", "before the first frame of movie 'clip.mov', which is numbered from 1001"),
                           ("1013", "ends before frame 1013; numbered from 1001 it holds 1001-1012")):
        res = runner.invoke(app, ["frames", "grab", "clip.mov", "--frame", frame, "-o", "bad.png"])
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not Path("bad.png").exists()
    res = runner.invoke(app, ["frames", "grab", "style.png", "--frame", "1", "-o", "bad.png"])
    assert res.exit_code == 2 and "is not a movie file" in res.output
    res = runner.invoke(app, ["frames", "info", "clip.mov"])
    assert res.exit_code == 0 and "clip.mov: 12 frames, numbered 1001-1012 (pictures 0-11), 64×48, 24.000 fps" in res.output
    assert "numbered from 1001" in runner.invoke(app, ["frames", "--help"]).output


def test_movie_at_frame_is_an_image(movie: Path) -> None:
    """`clip.mov@N` reads frame N in the movie's numbering from 1001; raw indices (@0) are refused."""
    assert split_movie_frame("clip.mov@1004") == (Path("clip.mov"), 1004)
    assert split_movie_frame("style.png@3") is None and split_movie_frame("clip.mov") is None
    assert split_movie_range("clip.mov@1003-1006") == (Path("clip.mov"), [1003, 1004, 1005, 1006])
    assert picture(load_rgb("clip.mov@1004", "content image")) == 3
    assert picture(load_rgb(movie.parent / "clip.mov@1012", "content image")) == 11
    with pytest.raises(UsageError, match=r"Frame 0 is before the first frame .*its first picture is clip\.mov@1001"):
        load_rgb("clip.mov@0", "content image")
    with pytest.raises(UsageError, match=r"'clip.mov' is a movie; name one of its frames, like 'clip.mov@1001'"):
        load_rgb("clip.mov", "content image")
    with pytest.raises(UsageError, match="does not exist"):
        load_rgb("gone.mov@1001", "content image")
    np.testing.assert_array_equal(read_movie_frame(movie, 1004), load_rgb("clip.mov@1004", "x"))


def test_stylize_a_movie_frame(movie: Path) -> None:
    res = runner.invoke(app, ["stylize", "clip.mov@1006", "style.png", "-o", "out.png", "--size", "48", "--iterations", "2",
                              "--seed", "0", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert read_image("out.png").shape == (36, 48, 3)
    assert "clip.mov@1006" in Path("out.look.toml").read_text()  # the look file names the frame it was made on


def test_sweep_a_movie_frame(movie: Path) -> None:
    res = runner.invoke(app, ["sweep", "clip.mov@1003", "style.png", "--u", "2,3", "--iterations", "1", "--size", "32",
                              "--seed", "0", "--device", "cpu", "-o", "sw"])
    assert res.exit_code == 0, res.output
    assert len(list(Path("sw/cells").glob("*.png"))) == 2


def test_frame_count_without_the_container_saying(tmp_path: Path) -> None:
    mkv = write_movie(tmp_path / "clip.mkv", LEVELS[:7])
    assert movie_frame_count(mkv) == 7


def test_training_frames_spread_over_the_range_and_skip_black(tmp_path: Path) -> None:
    levels = [0.0, 0.0, 0.0] + LEVELS[3:9] + [0.0, 0.0, 0.5]  # a fade up, the shot, a cut to black, one last frame
    mov = write_movie(tmp_path / "fade.mov", levels)
    assert is_near_black(np.zeros((48, 64, 3))) and not is_near_black(np.full((48, 64, 3), 0.2))
    frames, names = read_training_frames(str(mov), max_frames=4)
    # picks 1001, 1005, 1008, 1012: 1001 is black, so 1004 (the first picture after the fade) stands in for it
    assert names == ["fade.mov@1004", "fade.mov@1005", "fade.mov@1008", "fade.mov@1012"]
    assert [picture(f, levels) for f in frames] == [3, 4, 7, 11]
    # a chosen range, in the movie's numbering: spread over it, never frame 0
    _, names = read_training_frames(f"{mov}@1005-1009", max_frames=3)
    assert names == ["fade.mov@1005", "fade.mov@1007", "fade.mov@1009"]
    # a black pick with only black after it before the next pick is dropped, not replaced by a later pick
    kept, black = spread_movie_frames(mov, list(range(1009, 1013)), 2)
    assert [n for n, _ in kept] == [1009, 1012] and black == []
    kept, black = spread_movie_frames(mov, list(range(1010, 1012)), 2)
    assert kept == [] and black == [1010, 1011]
    with pytest.raises(UsageError, match="no frames to train on in 1010-1011; frames 1010-1011 are near black"):
        read_training_frames(f"{mov}@1010-1011")


def test_training_frames_of_a_sequence_skip_black(tmp_path: Path) -> None:
    for n, v in zip(range(1001, 1007), [0.0, 0.3, 0.0, 0.4, 0.6, 0.7]):
        write_image(tmp_path / f"p.{n}.png", np.full((48, 64, 3), v))
    frames, names = read_training_frames(str(tmp_path / "p.####.png"), max_frames=3)
    # picks 1001, 1003, 1006; 1001 is black so 1002 stands in, 1003 is black so 1004 does
    assert names == ["p.1002.png", "p.1004.png", "p.1006.png"]
    np.testing.assert_allclose([float(f.mean()) for f in frames], [0.3, 0.4, 0.7], atol=0.01)


class _PlatePainter:
    """A `Painter` that paints nothing: the display picture back, so the output says which picture was painted."""

    look_tag = "-plate"

    def paint(self, shown, edge, *, init="content", iterations=None, on_iteration=None):
        from impasto.shot.painter import Painted

        return Painted(shown.copy(), "test")

    def close(self) -> None:
        pass


def test_a_movie_shot_paints_the_pictures_its_numbers_name(movie: Path) -> None:
    """The issue's case: --frames 1040-1045 of a movie numbered from 1001 painted its pictures 0-5; now 39-44 (here
    1004-1006 -> 3-5), and the manifest records each frame's picture."""
    from impasto.io.frames import read_frame
    from impasto.shot.manifest import read_manifest
    from impasto.shot.loop import render_frames

    _, shot = init_shot("mm010", "clip.mov", "1004-1006", None, styles=["style.png"])
    report = render_frames(shot, painter=_PlatePainter())
    assert report.rendered == [1004, 1005, 1006] and not report.failed
    entries = read_manifest(shot.manifest_path()).frames
    assert {n: entries[n].source_frame for n in (1004, 1005, 1006)} == {1004: 3, 1005: 4, 1006: 5}
    painted = {n: picture(read_frame(shot.output_path(n)).rgb) for n in (1004, 1005, 1006)}
    assert painted == {1004: 3, 1005: 4, 1006: 5}


def test_a_movie_shot_reviews_at_the_movies_rate(tmp_path: Path, style_rgb: np.ndarray,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_movie(tmp_path / "ntsc.mov", LEVELS[:3], rate=Fraction(24000, 1001))
    write_image("style.png", style_rgb)
    _, shot = init_shot("nt010", "ntsc.mov", None, None, styles=["style.png"])
    assert shot.review.fps == pytest.approx(24000 / 1001, abs=1e-5)
