"""Look files: save, --look with explicit options on top, the sidecar every render writes, bad files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from impasto.cli import app
from impasto.commands.look_options import resolve_look
from impasto.errors import UsageError
from impasto.look import Look, LookFile, load_look, save_look

runner = CliRunner()


def test_look_save_takes_stylize_options(tmp_path: Path, images: tuple[Path, Path]) -> None:
    content, style = images
    path = tmp_path / "my_look.toml"
    r = runner.invoke(app, ["look", "save", str(path), str(content), str(style), "--u", "3.25", "--iterations", "7",
                            "--size", "64", "--seed", "11", "--k", "1.5", "--pooling", "avg", "--style-weights", "1"])
    assert r.exit_code == 0, r.output
    rec = load_look(path)
    assert (rec.look.u, rec.look.iterations, rec.look.size, rec.look.seed, rec.look.k) == (3.25, 7, 64, 11, 1.5)
    assert rec.look.pooling == "avg" and rec.look.style_weights == [1.0]
    assert rec.content == str(content.resolve()) and rec.styles == [str(style.resolve())]
    assert rec.weights_origin
    shown = runner.invoke(app, ["look", "show", str(path)])
    assert shown.exit_code == 0 and "u: 3.25" in shown.output
    # values as TOML writes them (false, "avg", [1.0]), so they can be pasted into a look file
    assert "raw_ratio: false" in shown.output and 'pooling: "avg"' in shown.output
    assert "style_weights: [1.0]" in shown.output and "False" not in shown.output and "None" not in shown.output
    for line in shown.output.splitlines():
        name, _, value = line.partition(": ")
        if name in Look.model_fields and value != "-":
            assert tomllib.loads(f"v = {value}")["v"] == rec.look.model_dump(mode="json")[name]


def test_round_trip_reproduces_the_image(tmp_path: Path, images: tuple[Path, Path]) -> None:
    from impasto.io.images import read_image

    content, style = images
    first = tmp_path / "first.png"
    r = runner.invoke(app, ["stylize", str(content), str(style), "--size", "48", "--iterations", "3", "--u", "3",
                            "--device", "cpu", "-o", str(first)])  # no seed: the sidecar records the one drawn
    assert r.exit_code == 0, r.output
    sidecar = tmp_path / "first.look.toml"
    assert load_look(sidecar).look.seed is not None
    again = tmp_path / "again.png"
    r = runner.invoke(app, ["stylize", "--look", str(sidecar), "--device", "cpu", "-o", str(again)])
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_image(first), read_image(again))
    assert load_look(tmp_path / "again.look.toml") == load_look(sidecar)


def test_explicit_options_override_the_file(tmp_path: Path, images: tuple[Path, Path]) -> None:
    content, style = images
    path = save_look(tmp_path / "base.toml", LookFile(look=Look(u=3.0, iterations=2, size=40, seed=5),
                                                      content=str(content), styles=[str(style)]))
    out = tmp_path / "o.png"
    r = runner.invoke(app, ["stylize", "--look", str(path), "--u", "5", "--device", "cpu", "-o", str(out)])
    assert r.exit_code == 0, r.output
    used = load_look(tmp_path / "o.look.toml").look
    assert (used.u, used.iterations, used.size, used.seed) == (5.0, 2, 40, 5)  # u from the command line, rest from the file
    # a default typed out explicitly still wins over the file
    rec = resolve_look(path, {"iterations": 256})
    assert rec.look.iterations == 256 and rec.look.u == 3.0


def test_relative_paths_in_a_look_file_are_relative_to_it(tmp_path: Path) -> None:
    sub = tmp_path / "looks"
    sub.mkdir()
    path = save_look(sub / "l.toml", LookFile(content="frame.png", styles=["../paint.jpg"]))
    rec = resolve_look(path, {})
    assert rec.content == str(sub / "frame.png") and rec.styles == [str(sub / "../paint.jpg")]
    assert resolve_look(path, {"content": "other.png"}).content == "other.png"


@pytest.mark.parametrize("text, words", [
    ("schema_version = 1\ncolour = 3\n", "colour"),
    ("[look]\nu = 4\nbrush = 2\n", "look.brush"),
    ("[look]\nu = \"four\"\n", "look.u"),
    ("[look]\niterations = [1, 2]\n", "look.iterations"),
    ("[look]\nu = 40\n", "look.u"),
    ("[look\n", "not valid TOML"),
])
def test_bad_look_files_are_exit_2_in_one_sentence(tmp_path: Path, images: tuple[Path, Path], text: str, words: str) -> None:
    content, style = images
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    out = tmp_path / "o.png"
    r = runner.invoke(app, ["stylize", str(content), str(style), "--look", str(bad), "--device", "cpu", "-o", str(out)])
    assert r.exit_code == 2
    assert words in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.strip().splitlines() if line.strip()]) <= 2  # one sentence (rich may wrap)
    assert not out.exists() and not (tmp_path / "o.look.toml").exists()


def test_missing_inputs_and_bad_options_are_usage_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["stylize", "--device", "cpu"])
    assert r.exit_code == 2 and "content image" in r.output
    r = runner.invoke(app, ["look", "save", str(tmp_path / "x.toml"), "--u", "99"])
    assert r.exit_code == 2 and not (tmp_path / "x.toml").exists()
    with pytest.raises(UsageError):
        resolve_look(None, {"iterations": 0})
