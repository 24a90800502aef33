"""One plate source: `fast train` on an EXR shot with a non-default `[colour]` view and premultiplied alpha trains
on the very display pictures the shot's render paints; the plain-plate path goes through the same conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.fast.train import _display_frame, read_training_frames
from impasto.io.frames import Frame, read_frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import ColourSettings, load_shot
from impasto.shot.loop import render_frames
from impasto.shot.painter import Painted
from impasto.shot.source import PlateSource, display_picture

W, H = 48, 32
VIEW = "Un-tone-mapped"  # not the built-in config's default view (ACES 2.0 SDR)


class _Recorder:
    """A `Painter` that keeps the display picture each frame hands it and paints it back unchanged."""

    look_tag = "-recorder"

    def __init__(self) -> None:
        self.shown: list[np.ndarray] = []

    def paint(self, shown, edge, *, init="content", iterations=None, on_iteration=None):
        self.shown.append(shown.copy())
        return Painted(shown.copy(), "test")

    def close(self) -> None:
        pass


def _plate(n: int) -> Frame:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    t = (n - 1001) * 4.0
    rgb = np.stack([0.05 + 0.9 * x / W, 0.6 * np.abs(np.sin((y + t) / 5.0)), 2.5 * (x > W / 2 + t / 4)], -1)
    alpha = np.clip(0.3 + x / W, 0, 1).astype(np.float32)
    return Frame(rgb=(rgb * alpha[..., None]).astype(np.float32), alpha=alpha)  # premultiplied, scene-linear ACEScg


def _shot(tmp_path: Path) -> Path:
    (tmp_path / "plates").mkdir()
    for n in (1001, 1002, 1003):
        write_frame(tmp_path / "plates" / f"sh.{n}.exr", _plate(n))
    write_image(tmp_path / "style.png", np.full((32, 32, 3), 0.5, np.float32))
    data = {"name": "sh", "plate": "plates/sh.####.exr", "frames": "1001-1003", "styles": ["style.png"],
            "look": {"iterations": 1, "size": 48}, "render": {"device": "cpu"},
            "colour": {"input_space": "ACEScg", "view": VIEW, "alpha": "premultiplied"}}
    path = tmp_path / "sh.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_fast_train_reads_the_pictures_the_render_paints(tmp_path: Path) -> None:
    shot_file = _shot(tmp_path)
    shot = load_shot(shot_file)
    painter = _Recorder()
    assert render_frames(shot, painter=painter).ok
    frames, names = read_training_frames(str(shot_file), max_frames=3)
    assert names == ["sh@1001", "sh@1002", "sh@1003"]
    assert len(painter.shown) == 3
    for trained, painted in zip(frames, painter.shown):
        np.testing.assert_array_equal(trained, np.clip(painted, 0.0, 1.0))
    # The view matters: the default view gives other pictures, so the test would catch a path that ignored it.
    default = display_picture(read_frame(tmp_path / "plates" / "sh.1001.exr"), ColourSettings(input_space="ACEScg"))
    assert np.abs(default - frames[0]).max() > 0.05
    with PlateSource(shot) as source:
        np.testing.assert_array_equal(np.clip(source.picture(1002), 0, 1), frames[1])


def test_plain_plate_and_shot_file_agree_where_their_colour_does(tmp_path: Path) -> None:
    """A plate pattern without a shot file is read with its colour space's default display and view: the same
    conversion a shot with those settings makes."""
    shot_file = _shot(tmp_path)
    plain = _display_frame(tmp_path / "plates" / "sh.1001.exr", "ACEScg")
    colour = ColourSettings(input_space="ACEScg")
    np.testing.assert_array_equal(plain, np.clip(display_picture(read_frame(tmp_path / "plates" / "sh.1001.exr"),
                                                                 colour), 0, 1))
    assert shot_file.is_file()


def test_fast_train_cli_takes_a_shot_file(tmp_path: Path) -> None:
    shot_file = _shot(tmp_path)
    look = tmp_path / "look.toml"
    look.write_text(tomli_w.dumps({"look": {"size": 48}, "styles": [str(tmp_path / "style.png")]}))
    res = CliRunner().invoke(app, ["fast", "train", str(look), "--plate", str(shot_file), "-o", str(tmp_path / "m.pt"),
                                   "--preset", "tiny", "--crop", "32", "--batch", "1", "--device", "cpu",
                                   "--general-fraction", "0", "--steps", "1"])
    assert res.exit_code == 0, res.output
    assert "3 frame(s) of" in res.output and (tmp_path / "m.pt").is_file()
