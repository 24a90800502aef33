"""Shot files: init, load, validation sentences, versions, the look hash, the manifest under concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.look import Look, LookFile, save_look
from impasto.shot.config import load_shot, save_shot
from impasto.shot.setup import init_shot
from impasto.shot.identity import look_hash
from impasto.shot.manifest import FrameEntry, read_manifest, update_manifest

runner = CliRunner()


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a 4-frame EXR plate, a 3-digit PNG plate, a style image and a look file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    rng = np.random.default_rng(1)
    for n in range(1001, 1005):
        write_frame(tmp_path / f"plates/cs010_plate.{n}.exr", Frame(rng.random((48, 64, 3), dtype=np.float32)))
    for n in range(7, 10):
        write_image(tmp_path / f"plates/short.{n:03d}.png", rng.random((48, 64, 3)))
    write_image(tmp_path / "style.png", style_rgb)
    save_look(tmp_path / "my_look.toml", LookFile(look=Look(iterations=2, size=48, seed=3), styles=["style.png"], content="plates/cs010_plate.1001.exr"))
    return tmp_path


def test_init_writes_a_shot_file_that_loads(project: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--frames", "1001-1004", "--look", "my_look.toml"])
    assert res.exit_code == 0, res.output
    shot = load_shot(project / "cs010.toml")
    assert shot.name == "cs010" and shot.frame_list() == [1001, 1002, 1003, 1004]
    assert shot.colour.input_space == "ACEScg"  # EXR plates default to scene-linear
    assert shot.output_path(1001).name == "cs010_paint_v001.1001.exr"
    assert shot.manifest_path().name == "cs010_paint_v001.manifest.json"
    look, styles = shot.resolved_look()
    assert look.seed == 3 and styles == [project / "style.png"]
    # again: the existing file is kept
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--look", "my_look.toml"])
    assert res.exit_code == 2 and "already exists" in res.output


def test_paths_are_relative_to_the_shot_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shots").mkdir()
    path, _ = init_shot("cs010", "plates/cs010_plate.%04d.exr", None, "my_look.toml", shot_file="shots/cs010.toml")
    assert 'plate = "../plates/cs010_plate.%04d.exr"' in path.read_text()
    monkeypatch.chdir(project / "plates")  # load from somewhere else: still finds everything
    shot = load_shot(project / "shots/cs010.toml")
    assert shot.frames == "1001-1004"  # taken from the frames on disk
    assert shot.plate_pattern().path(1002) == project / "shots/../plates/cs010_plate.1002.exr"
    assert shot.plate_pattern().path(1002).is_file()
    assert shot.output_folder() == project / "shots/render"


def test_hash_pattern_is_one_digit_per_hash(project: Path) -> None:
    _, shot = init_shot("short", "plates/short.###.png", None, None, styles=["style.png"])
    assert shot.frame_list() == [7, 8, 9]
    assert shot.plate_pattern().path(8).name == "short.008.png"
    assert shot.colour.input_space == "sRGB Encoded Rec.709 (sRGB)"
    with pytest.raises(UsageError, match="No frames"):
        init_shot("nope", "plates/short.####.png", None, None, styles=["style.png"], shot_file="nope.toml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": {"input_space": "ACEScg", "bogus": 1}}, "colour.bogus: not a shot setting"),
        ({"frames": "1010-1001"}, "frames: Frame range '1010-1001' runs backwards"),
        ({"output": {"pattern": "{shot}.####.exr"}}, "must contain {version}"),
        ({"look": {"iterations": 2}}, "either look_file or an inline [look]"),
        ({"render": {"scale": 2.0}}, "render.scale"),
        ({"dissolve": {"head": "x"}}, "dissolve.head"),
    ],
)
def test_bad_shot_files_are_one_sentence(project: Path, change: dict, message: str) -> None:
    import tomli_w

    path, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, "my_look.toml")
    data = shot.model_dump(mode="json", exclude_none=True) | change
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(UsageError) as exc:
        load_shot(path)
    text = str(exc.value)
    assert message in text and text.startswith("Shot file") and "\n" not in text


def test_unknown_colour_space_is_caught_at_init(project: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--look", "my_look.toml",
                              "--colourspace", "ACEScgg"])
    assert res.exit_code == 2
    assert "Colour space 'ACEScgg' is not in the OCIO config" in res.output and "ACEScg" in res.output
    assert not (project / "cs010.toml").exists()


def test_version_up_skips_versions_that_hold_frames(project: Path) -> None:
    path, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, "my_look.toml")
    shot.output_folder().mkdir()
    (shot.output_folder() / "cs010_paint_v002.1001.exr").write_bytes(b"x")  # someone else's v002
    res = runner.invoke(app, ["shot", "version-up", str(path)])
    assert res.exit_code == 0, res.output
    assert load_shot(path).output.version == 3
    assert "version 001 -> 003" in res.output


def test_look_hash_ignores_where_the_look_was_developed_but_not_what_paints(project: Path) -> None:
    path, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, "my_look.toml")
    base = look_hash(shot)
    lf = LookFile(look=Look(iterations=2, size=48, seed=3), styles=["style.png"], content="plates/cs010_plate.1003.exr")
    save_look(project / "my_look.toml", lf)
    assert look_hash(load_shot(path)) == base  # another development frame
    lf.look = Look(iterations=2, size=96, seed=3)
    save_look(project / "my_look.toml", lf)
    assert look_hash(load_shot(path)) == base  # the shot's scale sets the paint size, not the look's size
    lf.look = Look(iterations=2, size=48, seed=3, u=5)
    save_look(project / "my_look.toml", lf)
    assert look_hash(load_shot(path)) != base
    save_look(project / "my_look.toml", LookFile(look=Look(iterations=2, size=48, seed=3), styles=["style.png"]))
    shot = load_shot(path)
    shot.post.denoise = "tv"
    assert look_hash(shot) != base
    shot.post.denoise = "none"
    shot.render.scale = 0.5
    assert look_hash(shot) != base
    write_image(project / "style.png", np.zeros((48, 48, 3), np.float32))  # same name, other picture
    assert look_hash(load_shot(path)) != base


def test_inline_look_without_seed_gets_a_stable_one(project: Path) -> None:
    path, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, None, styles=["style.png"])
    a = shot.resolved_look()[0].seed
    save_shot(path, shot)
    assert a is not None and load_shot(path).resolved_look()[0].seed == a


def _writer(args: tuple[str, int]) -> None:
    path, worker = args
    for i in range(15):
        update_manifest(path, "cs010", 1, {worker * 100 + i: FrameEntry(status="done", seconds=float(i), pid=os.getpid())})


def test_manifest_keeps_every_writer_s_frames(tmp_path: Path) -> None:
    path = tmp_path / "cs010_paint_v001.manifest.json"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        pool.map(_writer, [(str(path), w) for w in range(4)])
        # Let the workers finish on their own: the pool's exit terminates them with SIGTERM, and a worker killed
        # while it holds the task queue's lock leaves another waiting for it forever (seen on a loaded machine).
        pool.close()
        pool.join()
    m = read_manifest(path)
    assert sorted(m.frames) == sorted(w * 100 + i for w in range(4) for i in range(15))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    path.write_text("{ not json")
    with pytest.raises(UsageError, match="damaged"):
        read_manifest(path)


# ------------------------------------------------------------------------------- checked at init (issue 15, part 6)
def test_a_truncated_style_image_is_found_at_init(project: Path) -> None:
    data = (project / "style.png").read_bytes()
    (project / "broken.png").write_bytes(data[: len(data) // 2])
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--style", "broken.png"])
    assert res.exit_code == 2 and "broken.png' is corrupt or truncated" in res.output and "Style image '" in res.output
    assert "Traceback" not in res.output and not (project / "cs010.toml").exists()
    # the look's own style images are checked too, and the look's settings against them
    save_look(project / "bad_look.toml", LookFile(look=Look(iterations=2, style_weights=[1, 2]), styles=["style.png"]))
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--look", "bad_look.toml"])
    assert res.exit_code == 2 and "--style-weights has 2 values for 1 style images" in res.output
    save_look(project / "bad_look.toml", LookFile(look=Look(iterations=2), styles=["broken.png"]))
    with pytest.raises(UsageError, match="corrupt or truncated"):
        init_shot("cs010", "plates/cs010_plate.####.exr", None, "bad_look.toml")


def test_an_output_folder_that_cannot_be_made_is_named_with_its_reason(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "taken").write_text("a file where the folder would go")
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--look", "my_look.toml",
                              "--output-dir", "taken/render"])
    assert res.exit_code == 2 and not (project / "cs010.toml").exists()
    assert f"Output folder '{project / 'taken/render'}' cannot be created: '{project / 'taken'}' is a file, not a folder." in res.output

    real = os.statvfs

    class ReadOnly:
        def __init__(self, path):
            self.f_flag = real(path).f_flag | os.ST_RDONLY

    _, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, "my_look.toml", settings={"output": {"folder": "ro/render"}})
    monkeypatch.setattr(os, "statvfs", ReadOnly)  # as on a read-only mount
    with pytest.raises(UsageError, match=rf"Output folder '{project}/ro/render' cannot be created: '{project}' is on a read-only file system"):
        shot.make_output_folder()  # what render calls before painting the first frame
    res = runner.invoke(app, ["shot", "init", "cs011", "--plate", "plates/cs010_plate.####.exr", "--look", "my_look.toml"])
    assert res.exit_code == 2 and "is on a read-only file system" in res.output
    monkeypatch.setattr(os, "statvfs", real)
    _, shot = init_shot("cs012", "plates/cs010_plate.####.exr", None, "my_look.toml", settings={"output": {"folder": "out/v1"}})
    assert shot.make_output_folder() == project / "out/v1" and (project / "out/v1").is_dir()


def test_one_numbered_file_asks_whether_the_sequence_was_meant(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["shot", "init", "cs010", "--plate", "plates/cs010_plate.1002.exr", "--look", "my_look.toml"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and not (project / "cs010.toml").exists()
    assert ("'plates/cs010_plate.1002.exr' is one frame of the sequence 'plates/cs010_plate.####.exr' (frames 1001-1004 are "
            "on disk): pass --frames 1002 to paint that frame alone, or --plate 'plates/cs010_plate.####.exr' for the sequence.") in res.output
    res = runner.invoke(app, [*args, "--frames", "1002"])
    assert res.exit_code == 0, res.output
    assert "cs010 frames 1002 (1 frame)" in res.output  # one frame, not "1 frames"
    shot = load_shot(project / "cs010.toml")
    assert shot.plate == "plates/cs010_plate.####.exr" and shot.frame_list() == [1002]
    # at a terminal it asks
    monkeypatch.setattr("impasto.commands.shot._interactive", lambda: True)
    res = runner.invoke(app, [*args, "--overwrite"], input="y\n")
    assert res.exit_code == 0 and "Paint the whole sequence?" in res.output
    assert load_shot(project / "cs010.toml").frame_list() == [1001, 1002, 1003, 1004]
    res = runner.invoke(app, [*args, "--overwrite"], input="n\n")
    assert res.exit_code == 0 and load_shot(project / "cs010.toml").frame_list() == [1002]


def test_missing_plate_frames_are_warned_at_init(project: Path) -> None:
    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--frames", "1001-1006",
                              "--look", "my_look.toml"])
    assert res.exit_code == 0, res.output
    assert "warning: plate frames 1005-1006 (2 of 6 frames) are missing from 'plates/cs010_plate.####.exr'" in res.output
    assert "frames 1001-1006 (6 frames)" in res.output


def _command(*path: str):
    """The click command behind `impasto <path>`."""
    import typer.main

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def test_shot_init_takes_its_defaults_and_help_from_the_shot_models() -> None:
    """Each `shot init` option that sets a shot-file setting defaults to the model field's default and shows its
    description, so a default is stated once (in impasto.shot.config)."""
    from impasto.commands.shot import MATTE, SECTIONS, SETTINGS
    from impasto.look import RegionSpec
    from impasto.shot.config import Shot

    params = {p.name: p for p in _command("shot", "init").params}
    assert set(SETTINGS) | set(MATTE) <= set(params)
    for option, (section, field) in SETTINGS.items():
        info = SECTIONS[section].model_fields[field]
        assert getattr(Shot.model_fields[section].default_factory(), field) == info.default
        assert f"{section}.{field}:" in params[option].help, option
        if option in ("colourspace", "output_dir"):
            assert params[option].default is None  # init_shot decides: the plate's kind; render/ beside the shot file
            continue
        assert params[option].default == info.get_default(call_default_factory=True), option
        if info.description:
            assert info.description in params[option].help, option
    for option, field in MATTE.items():
        if option != "matte":  # the matte itself has no default: without one, no region
            assert params[option].default == RegionSpec.model_fields[field].default, option
    assert params["first_frame"].default == Shot.model_fields["first_frame"].default


def test_shot_init_without_settings_writes_the_models_defaults(project: Path) -> None:
    from impasto.shot.config import DissolveSettings, OutputSettings, PostSettings, RenderSettings, TemporalSettings

    res = runner.invoke(app, ["shot", "init", "cs010", "--plate", "plates/cs010_plate.####.exr", "--look", "my_look.toml"])
    assert res.exit_code == 0, res.output
    shot = load_shot(project / "cs010.toml")
    assert shot.render == RenderSettings() and shot.post == PostSettings() and shot.dissolve == DissolveSettings()
    assert shot.temporal == TemporalSettings() and shot.output == OutputSettings()
    assert "[temporal]" not in (project / "cs010.toml").read_text()  # a shot that never asked for boil


def test_init_shot_takes_sections_and_a_matte(project: Path) -> None:
    _, shot = init_shot("cs010", "plates/cs010_plate.####.exr", None, "my_look.toml",
                        settings={"render": {"scale": 0.5}, "post": {"denoise": "tv", "strength": None},
                                  "temporal": {"boil": 0.5}})
    assert shot.render.scale == 0.5 and shot.post.denoise == "tv" and shot.post.strength == 0.5  # None: the default
    assert shot.temporal.boil == 0.5 and shot.temporal.chunk == 12
    with pytest.raises(UsageError, match="describe a matte; give it with --matte"):
        init_shot("cs011", "plates/cs010_plate.####.exr", None, "my_look.toml", matte={"matte": None, "u": 2.0})
    with pytest.raises(UsageError, match="render.scale"):
        init_shot("cs012", "plates/cs010_plate.####.exr", None, "my_look.toml", settings={"render": {"scale": 2.0}})
