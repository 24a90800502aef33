"""Mattes in shots (issue 17 part 4): `shot init --matte` writes a [[regions]] entry, matte frames follow the
plate's frame numbers, are hashed per frame in the manifest ("matte changed" repaints just those frames), a missing
or wrongly shaped matte frame fails that frame in one sentence while the others are painted, `matte = "alpha"`
takes the plate frame's alpha, and regions go together with boil."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.frames import read_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.setup import init_shot
from impasto.shot.identity import look_hash
from impasto.shot.manifest import read_manifest
from impasto.shot.render import ShotRenderer
from impasto.shot.loop import render_frames

runner = CliRunner()
W, H = 64, 48
FRAMES = [1001, 1002, 1003]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Renders here run on one torch thread (see conftest)."""


def write(path: Path, pixels: np.ndarray, channels: list[str]) -> Path:
    """H×W×C float pixels written with OpenImageIO under the given channel names."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.FLOAT)
    spec.channelnames = tuple(channels)
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
    out.close()
    return path


def half(h: int = H, w: int = W, value: float = 1.0) -> np.ndarray:
    m = np.zeros((h, w, 1), np.float32)
    m[:, : w // 2] = value
    return m


@pytest.fixture(scope="session")
def plate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data, transform

    big = transform.resize(data.astronaut(), (96, 96), anti_aliasing=True).astype(np.float32)
    folder = tmp_path_factory.mktemp("matteplates")
    for i, n in enumerate(FRAMES):
        write_image(folder / f"p.{n}.png", big[20:20 + H, 10 + 2 * i:10 + 2 * i + W])
    return folder


@pytest.fixture()
def project(tmp_path: Path, plate_dir: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(plate_dir, tmp_path / "plates")
    write_image(tmp_path / "style.png", style_rgb[:48, :48])
    write_image(tmp_path / "other.png", np.ascontiguousarray(style_rgb[-48:, -48:, ::-1]))
    for n in FRAMES:
        write(tmp_path / "mattes" / f"fg.{n}.exr", half(), ["A"])
    return tmp_path


def _look(project: Path, u: float = 4.0) -> Path:
    from impasto.look import Look, LookFile, save_look

    return save_look(project / "look.toml", LookFile(look=Look(u=u, iterations=2, size=48, seed=3), styles=["style.png"]))


def _init(*extra: str, name: str = "cs010"):
    return runner.invoke(app, ["shot", "init", name, "--plate", "plates/p.####.png", "--look", "look.toml", *extra])


def _render(name: str = "cs010", *extra: str):
    return runner.invoke(app, ["render", f"{name}.toml", "--device", "cpu", *extra])


def test_shot_init_writes_the_region_and_the_shot_renders(project: Path) -> None:
    _look(project)
    res = _init("--matte", "mattes/fg.####.exr", "--matte-u", "2", "--matte-style", "other.png",
                "--matte-channel", "A", "--matte-feather", "4")
    assert res.exit_code == 0, res.output
    assert "region 'matte' (mattes/fg.####.exr) at u 2 with other.png" in res.output
    text = (project / "cs010.toml").read_text()
    assert "regions" in text and "mattes/fg.####.exr" in text
    assert "regions" not in (project / "look.toml").read_text()  # the look file is left as it was
    shot = load_shot(project / "cs010.toml")
    assert [(r.name, r.u, r.channel, r.feather, r.styles) for r in shot.regions] == [
        ("matte", 2.0, "A", 4.0, ["other.png"])]
    look, _ = shot.resolved_look()
    assert look.regions[0].matte == str(project / "mattes/fg.####.exr")
    # The look hash covers the region's settings.
    plain = shot.model_copy(update={"regions": []})
    plain._root = shot.root
    assert look_hash(plain) != look_hash(shot)
    res = _render()
    assert res.exit_code == 0, res.output
    manifest = read_manifest(shot.manifest_path())
    assert sorted(manifest.done()) == FRAMES
    assert all(set(e.mattes or {}) == {"matte"} for e in manifest.frames.values())
    assert read_frame(shot.output_path(1002)).rgb.shape == (H, W, 3)


def test_matte_options_need_a_matte(project: Path) -> None:
    _look(project)
    res = _init("--matte-u", "2")
    assert res.exit_code != 0 and "--matte" in res.output and "Traceback" not in res.output
    assert not (project / "cs010.toml").exists()


def test_a_changed_matte_frame_repaints_only_that_frame(project: Path) -> None:
    _look(project)
    assert _init("--matte", "mattes/fg.####.exr", "--matte-u", "2").exit_code == 0
    assert _render().exit_code == 0
    write(project / "mattes" / "fg.1002.exr", half(value=0.5), ["A"])
    shot = load_shot(project / "cs010.toml")
    with ShotRenderer(shot, device="cpu") as r:
        plan = r.plan()
    assert plan.todo == [1002] and plan.reasons == {1002: "matte changed"}
    before = read_manifest(shot.manifest_path()).frames
    res = _render()
    assert res.exit_code == 0 and "matte changed: 1002" in res.output, res.output
    after = read_manifest(shot.manifest_path()).frames
    assert after[1001].finished == before[1001].finished and after[1003].finished == before[1003].finished
    assert after[1002].mattes != before[1002].mattes


def test_a_missing_matte_frame_fails_that_frame_only(project: Path) -> None:
    _look(project)
    (project / "mattes" / "fg.1002.exr").unlink()
    res = _init("--matte", "mattes/fg.####.exr", "--matte-u", "2")
    assert res.exit_code == 0, res.output
    assert "matte frames 1002 (1 of 3 frames) of region 'matte' are missing from 'mattes/fg.####.exr'" in res.output
    res = _render()
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "Matte frame 1002" in res.output and "fg.1002.exr" in res.output
    manifest = read_manifest(load_shot(project / "cs010.toml").manifest_path())
    assert sorted(manifest.done()) == [1001, 1003]
    error = manifest.frames[1002].error
    assert manifest.frames[1002].status == "failed" and error is not None
    assert error == f"Matte frame 1002 '{project / 'mattes' / 'fg.1002.exr'}' does not exist."


def test_a_matte_of_another_aspect_is_one_sentence(project: Path) -> None:
    _look(project)
    for n in FRAMES:
        write(project / "mattes" / f"sq.{n}.exr", half(48, 48), ["A"])
    res = _init("--matte", "mattes/sq.####.exr")
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "48×48" in res.output and "aspect" in res.output
    assert not (project / "cs010.toml").exists()
    # A matte frame replaced later by one of another aspect fails that frame at render, in one sentence.
    assert _init("--matte", "mattes/fg.####.exr").exit_code == 0
    write(project / "mattes" / "fg.1003.exr", half(48, 48), ["A"])
    res = _render()
    assert res.exit_code != 0 and "1003" in res.output and "aspect" in res.output
    manifest = read_manifest(load_shot(project / "cs010.toml").manifest_path())
    assert sorted(manifest.done()) == [1001, 1002] and manifest.frames[1003].status == "failed"


def test_alpha_matte_from_an_rgba_exr_plate(project: Path) -> None:
    _look(project)
    for n in FRAMES:
        rgb = read_frame(project / "plates" / f"p.{n}.png").rgb
        write(project / "exr" / f"p.{n}.exr", np.concatenate([rgb * half(), half()], axis=2), ["R", "G", "B", "A"])
    res = runner.invoke(app, ["shot", "init", "cs020", "--plate", "exr/p.####.exr", "--look", "look.toml",
                              "--colourspace", "sRGB Encoded Rec.709 (sRGB)", "--matte", "alpha", "--matte-u", "2"])
    assert res.exit_code == 0, res.output
    res = _render("cs020")
    assert res.exit_code == 0, res.output
    shot = load_shot(project / "cs020.toml")
    manifest = read_manifest(shot.manifest_path())
    assert sorted(manifest.done()) == FRAMES and manifest.frames[1001].mattes == {}
    # A plate without alpha cannot be its own matte: refused at init in one sentence.
    res = runner.invoke(app, ["shot", "init", "cs030", "--plate", "plates/p.####.png", "--look", "look.toml",
                              "--matte", "alpha"])
    assert res.exit_code != 0 and "alpha" in res.output and "Traceback" not in res.output


def test_a_matte_of_all_ones_at_the_looks_u_paints_as_no_matte(project: Path) -> None:
    _look(project)
    for n in FRAMES:
        write(project / "mattes" / f"one.{n}.exr", np.ones((H, W, 1), np.float32), ["A"])
    plain, _ = init_shot("plain", "plates/p.####.png", "1001", "look.toml")
    matte, _ = init_shot("ones", "plates/p.####.png", "1001", "look.toml", matte={"matte": "mattes/one.####.exr"})
    a = render_frames(load_shot(plain), device="cpu")
    b = render_frames(load_shot(matte), device="cpu")
    assert a.ok and b.ok
    pa = read_frame(load_shot(plain).output_path(1001)).rgb
    pb = read_frame(load_shot(matte).output_path(1001)).rgb
    assert np.abs(pa - pb).max() < 2e-3


def test_boil_and_a_matte_render_together(project: Path) -> None:
    _look(project)
    res = _init("--matte", "mattes/fg.####.exr", "--matte-u", "2", "--boil", "1", "--chunk", "2")
    assert res.exit_code == 0, res.output
    shot = load_shot(project / "cs010.toml")
    seen = []
    with ShotRenderer(shot, device="cpu") as r:
        paint = r.painter.paint

        def spy(*args, guides=None, **kw):
            seen.append(guides)
            return paint(*args, guides=guides, **kw)

        r.painter.paint = spy  # type: ignore[method-assign]
        report = render_frames(shot, renderer=r)
    assert report.ok and sorted(report.rendered) == FRAMES
    assert all(g is not None and len(g.regions) == 1 for g in seen)
    assert any(g.temporal for g in seen)  # the frame after a keyframe carries both


def test_a_fast_painter_ignores_regions_with_a_warning(project: Path) -> None:
    from impasto.shot.painter import Painted

    class Flat:
        look_tag = "+fast:test"

        def paint(self, shown, edge, **kw):
            assert kw.get("guides") is None
            return Painted(np.asarray(shown, np.float32), "cpu")

        def close(self) -> None:
            pass

    _look(project)
    assert _init("--matte", "mattes/fg.####.exr", "--matte-u", "2").exit_code == 0
    (project / "mattes" / "fg.1002.exr").unlink()  # not read at all: the fast model paints whole frames
    with ShotRenderer(load_shot(project / "cs010.toml"), painter=Flat(), device="cpu") as r:
        assert any("ignores the look's regions" in w for w in r.warnings)
        assert render_frames(r.shot, renderer=r).ok


def test_region_warnings_once_per_run_and_in_the_manifest(project: Path) -> None:
    _look(project)
    for n in FRAMES:
        tiny = np.zeros((H, W, 1), np.float32)
        tiny[:2, :2] = 1.0
        write(project / "mattes" / f"tiny.{n}.exr", tiny, ["A"])
    assert _init("--matte", "mattes/tiny.####.exr").exit_code == 0
    shot = load_shot(project / "cs010.toml")
    with ShotRenderer(shot, device="cpu") as r:
        assert render_frames(shot, renderer=r).ok
        assert len(r.warnings) == 1 and "covers" in r.warnings[0]
    assert all(e.warnings and "covers" in e.warnings[0] for e in read_manifest(shot.manifest_path()).frames.values())


def test_duplicate_region_names_are_one_sentence(project: Path) -> None:
    from impasto.look import Look, LookFile, save_look

    save_look(project / "look.toml", LookFile(look=Look(iterations=2, size=48, regions=[
        {"name": "matte", "matte": "mattes/fg.####.exr"}]), styles=["style.png"]))
    res = _init("--matte", "mattes/fg.####.exr")
    assert res.exit_code == 0, res.output  # named matte2 beside the look's 'matte'
    assert [r.name for r in load_shot(project / "cs010.toml").resolved_look()[0].regions] == ["matte", "matte2"]
    text = (project / "cs010.toml").read_text().replace('name = "matte2"', 'name = "matte"')
    (project / "cs010.toml").write_text(text)
    with pytest.raises(UsageError, match="named 'matte'"):
        load_shot(project / "cs010.toml").resolved_look()


def test_look_file_regions_follow_the_look_file_and_the_hash_survives_a_move(project: Path) -> None:
    from impasto.look import Look, LookFile, save_look

    (project / "looks").mkdir()
    shutil.copy(project / "style.png", project / "looks" / "style.png")
    shutil.copytree(project / "mattes", project / "looks" / "mattes")
    save_look(project / "looks" / "look.toml", LookFile(look=Look(iterations=2, size=48, seed=3, regions=[
        {"name": "fg", "matte": "mattes/fg.####.exr", "u": 2}]), styles=["style.png"]))
    path, shot = init_shot("cs010", "plates/p.####.png", None, "looks/look.toml", matte={"matte": "mattes/fg.####.exr"})
    look, _ = load_shot(path).resolved_look()
    assert [(r.name, r.matte) for r in look.regions] == [
        ("fg", str(project / "looks/mattes/fg.####.exr")), ("matte", str(project / "mattes/fg.####.exr"))]
    before = look_hash(load_shot(path))
    moved = shutil.copytree(project, project.parent / f"{project.name}-moved")
    assert look_hash(load_shot(moved / "cs010.toml")) == before  # paths hashed relative to the shot file
