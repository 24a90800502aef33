"""Boil without seams (issue 25): frames between keyframes held from both sides, frames that stop when converged,
and versions painted before either existed rendering on unchanged.

Two-sided: a frame at position t between keyframes K and K' is held toward both paintings carried to it along the
plate's composed motion, weights (1 - t) and t; the shot's last frame is a keyframe; a chunk's frames need only
their keyframes. "auto": the frames between keyframes stop once their loss has converged (the manifest records
their iterations; status and --estimate read them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.io.frames import read_frame
from impasto.io.images import write_image
from impasto.motion import Motion
from impasto.objective.controls import temporal_weight
from impasto.optim.solve import STEADY, Converged
from impasto.shot.config import load_shot
from impasto.shot.identity import look_hash, settled_temporal
from impasto.shot.loop import render_frames
from impasto.shot.manifest import read_manifest
from impasto.shot.render import ShotRenderer
from impasto.shot.temporal import Boil, contrast_kept_blend, painted_path
from impasto.objective.guides import Temporal
from tests.media import render_in_processes

runner = CliRunner()
W, H = 64, 48
FRAMES = list(range(1001, 1009))  # 8 frames, chunk 3: keyframes 1001, 1004, 1007 and (two-sided) 1008
PAN = 2  # px per frame, to the left: frame i shows the big picture from x = 10 + PAN·i


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Renders here run on one torch thread (see conftest)."""


@pytest.fixture(scope="session")
def big() -> np.ndarray:
    from skimage import data, transform

    return transform.resize(data.astronaut(), (128, 128), anti_aliasing=True).astype(np.float32)


def crop(big: np.ndarray, i: int) -> np.ndarray:
    x = 10 + PAN * i
    return big[40:40 + H, x:x + W]


@pytest.fixture()
def project(tmp_path: Path, big: np.ndarray, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    for i, n in enumerate(FRAMES):
        write_image(tmp_path / "plates" / f"pan.{n}.png", crop(big, i))
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    return tmp_path


def _shot(project: Path, name: str = "pan", temporal: dict | None = None, iterations: int = 2,
          folder: str = "render") -> Path:
    data = {
        "name": name, "plate": "plates/pan.####.png", "frames": f"{FRAMES[0]}-{FRAMES[-1]}", "styles": ["style.png"],
        "look": {"iterations": iterations, "size": 48, "seed": 5, "u": 4.0},
        "render": {"device": "cpu"}, "output": {"folder": folder},
        "temporal": temporal if temporal is not None else {"boil": 1.0, "chunk": 3},
    }
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _true_motion(size: tuple[int, int]) -> Motion:
    """The pan's exact motion into a frame: its pixel p shows what the frame before showed at p + PAN."""
    w, h = size
    backward = np.zeros((h, w, 2), np.float32)
    backward[..., 0] = PAN
    forward = -backward
    mask = np.ones((h, w), np.float32)
    mask[:, w - PAN:] = 0  # those pixels came in from outside the frame before
    return Motion(backward=backward, forward=forward, mask=mask)


def test_the_frame_midway_is_held_equally_to_both_keyframes(project: Path, big: np.ndarray) -> None:
    """On a pan whose true flow is known, frame 1003 of chunk 1002-1003 between keyframes 1001 and 1004 sits at t = 2/3
    and 1002 at 1/3; in a chunk of 4 the middle frame at 1/2 is held equally to both; each keyframe's painting
    (here its plate, so the carried picture can be checked against the frame's own plate) lands where that frame
    shows the same scene."""
    shot = load_shot(_shot(project, temporal={"boil": 1.0, "chunk": 4}))
    size = (W, H)
    index = {n: i for i, n in enumerate(FRAMES)}
    boil = Boil(shot, settled_temporal(shot), lambda n: f"h{n}", lambda n: crop(big, index[n]),
                lambda n, s: crop(big, index[n]) if n in (1001, 1005) else None, lambda: read_manifest(shot.manifest_path()), 8)
    boil.motion = lambda frame, s: _true_motion(s)  # the plate's exact motion, in place of optical flow
    start = boil.start(1003, size)
    before, after = start.guides.temporal
    w = temporal_weight(1.0)
    assert before.weight == after.weight == pytest.approx(w)  # each term's share of it is its mask
    assert start.held_to == (1001, 1005) and start.label == "between:1001,1005" and start.stop == STEADY
    plate = crop(big, index[1003])
    # 1001 carried forward loses the columns that entered since; 1005 carried back, those that left.
    assert not before.mask[:, -2 * PAN:].any() and not after.mask[:, :2 * PAN].any()
    both = (before.mask > 0) & (after.mask > 0)
    assert both.mean() > 0.8
    assert np.allclose(before.mask[both], 0.5) and np.allclose(after.mask[both], 0.5)  # held equally to both
    assert np.allclose(before.mask[:, :2 * PAN], 1.0)  # where only one side sees the scene, it holds alone
    for side in (before, after):
        trusted = side.mask > 0
        assert np.abs(side.target - plate)[trusted].max() < 1e-4  # carried exactly: the scene where 1003 shows it
    # The start is where the two terms put it: the plate itself here, as both sides agree (no contrast added).
    assert np.abs(start.init - plate).max() < 1e-4
    # Shares cross over the whole chunk: 1002 at t = 1/4 and 1004 at t = 3/4.
    for n, t in ((1002, 0.25), (1004, 0.75)):
        s = boil.start(n, size).guides.temporal
        inside = (s[0].mask > 0) & (s[1].mask > 0)
        assert np.allclose(s[0].mask[inside], 1 - t) and np.allclose(s[1].mask[inside], t)


def test_relay_holds_each_frame_to_the_one_before_and_the_next_keyframe(project: Path) -> None:
    shot_file = _shot(project, temporal={"boil": 1.0, "chunk": 3, "between": "relay"})
    shot = load_shot(shot_file)
    assert render_frames(shot).ok
    m = read_manifest(shot.manifest_path()).frames
    assert [n for n in FRAMES if m[n].keyframe] == [1001, 1004, 1007, 1008]
    assert m[1002].start == "warped:1001" and m[1002].held_to == [1001, 1004] and m[1002].pulled_to == 1004
    assert m[1003].start == "warped:1002" and m[1003].held_to == [1002, 1004]
    assert m[1001].look_hash.endswith("+boil1c3rliauto")
    from impasto.shot.plan import Boil as PlanBoil
    from impasto.shot.plan import frame_tasks

    needs = {t.key: t.needs for t in frame_tasks(FRAMES, FRAMES, PlanBoil(chunk=3, between="relay"))}
    assert needs[1003] == {1002, 1004} and needs[1006] == {1005, 1007} and needs[1008] == {1007}


def test_contrast_is_kept_where_the_sides_disagree() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((32, 32, 3), np.float32), rng.random((32, 32, 3), np.float32)
    ones = np.ones((32, 32), np.float32)
    plain = 0.5 * (a + b)
    kept = contrast_kept_blend([Temporal(a, ones, 1.0), Temporal(b, ones, 1.0)], np.zeros_like(a))
    assert kept.std() > 1.2 * plain.std() and kept.std() < 1.05 * a.std()
    # One side trusted only: that side; neither: the plate.
    half = ones.copy()
    half[:, 16:] = 0
    plate = np.full_like(a, 0.25)
    one = contrast_kept_blend([Temporal(a, half, 1.0), Temporal(b, np.zeros_like(ones), 1.0)], plate)
    assert np.allclose(one[:, :16], a[:, :16]) and np.allclose(one[:, 16:], 0.25)


def test_a_two_sided_render_paints_keyframes_then_frames_from_both(project: Path) -> None:
    shot_file = _shot(project)
    res = runner.invoke(app, ["render", str(shot_file)])
    assert res.exit_code == 0, res.output
    shot = load_shot(shot_file)
    m = read_manifest(shot.manifest_path()).frames
    assert sorted(m) == FRAMES and all(e.status == "done" for e in m.values())
    assert [n for n in FRAMES if m[n].keyframe] == [1001, 1004, 1007, 1008]
    assert m[1008].start == "warped:1007"  # the last frame is a keyframe, chained from the one before
    assert m[1002].start == "between:1001,1004" and m[1002].held_to == [1001, 1004]
    assert m[1006].start == "between:1004,1007" and m[1006].held_to == [1004, 1007]
    assert all(m[k].finished < m[n].finished for k in (1001, 1004, 1007, 1008) for n in (1002, 1003, 1005, 1006))
    assert m[1001].look_hash.endswith("+boil1c3tsiauto")
    assert all(e.iterations == 2 for e in m.values())  # the look's 2 are below auto's minimum
    assert all(painted_path(shot, n).is_file() for n in FRAMES)
    res = runner.invoke(app, ["status", str(shot_file), "--no-flicker"])
    assert res.exit_code == 0 and "median 2 over 8 frames" in " ".join(res.output.split())


def test_resume_inside_a_two_sided_chunk_paints_what_an_unbroken_render_did(project: Path) -> None:
    one = load_shot(_shot(project, "one", folder="one"))
    assert render_frames(one, [1001, 1004, 1002, 1003]).ok
    two = load_shot(_shot(project, "two", folder="two"))

    def killed_at_1003(event) -> None:
        if event.kind == "iteration" and event.frame == 1003:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(two, [1001, 1004, 1002, 1003], progress=killed_at_1003)
    assert 1003 not in read_manifest(two.manifest_path()).frames and not two.output_path(1003).exists()
    report = render_frames(two, [1001, 1004, 1002, 1003])
    assert report.rendered == [1003]
    for n in (1002, 1003):
        assert np.array_equal(read_frame(one.output_path(n)).rgb, read_frame(two.output_path(n)).rgb), n


def test_two_local_renders_split_a_two_sided_shot(project: Path) -> None:
    shot_file = _shot(project)
    rendered = render_in_processes(shot_file)
    m = read_manifest(load_shot(shot_file).manifest_path()).frames
    assert sorted(m) == FRAMES and all(e.status == "done" for e in m.values())
    assert all(m[n].held_to == [1001, 1004] for n in (1002, 1003)) and m[1005].held_to == [1004, 1007]
    assert all(rendered.count(f"frame {n} done") == 1 for n in FRAMES)  # each frame painted once


def test_the_auto_stop_rule() -> None:
    rule = Converged(tolerance=0.01, window=3, minimum=5)
    falling = [100.0 * 0.9**i for i in range(20)]  # 10 % a step: never converged
    assert not any(rule(falling[:n]) for n in range(1, 21))
    flat = [100.0, 50.0, 40.0, 39.9, 39.85, 39.84, 39.83, 39.83]
    assert not rule(flat[:4])  # before the window and the minimum
    assert rule(flat[:6])  # 40.0 -> 39.84 over 3 steps: under 1 %
    assert not rule(flat[:6], done=4)  # the minimum counts every iteration done, also before a restart
    with pytest.raises(ValueError):
        Converged(tolerance=-1, window=3, minimum=5)


def test_auto_stops_a_toy_render_early_and_the_cap_holds(content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    from impasto import Look, render

    look = Look(size=32, iterations=30, seed=1, u=4.0)
    loose = render(content_rgb, style_rgb, look, device="cpu", stop=Converged(tolerance=0.5, window=2, minimum=4))
    assert 4 <= len(loose.history) < 30
    never = render(content_rgb, style_rgb, look.model_copy(update={"iterations": 6}), device="cpu",
                   stop=Converged(tolerance=0.0, window=2, minimum=4))
    assert len(never.history) == 6
    full = render(content_rgb, style_rgb, look.model_copy(update={"iterations": 6}), device="cpu")
    assert np.array_equal(never.image, full.image)  # a rule that never fires changes nothing


def test_auto_frames_record_their_iterations_and_the_estimate_reads_them(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import impasto.shot.temporal as temporal

    monkeypatch.setattr(temporal, "STEADY", Converged(tolerance=0.9, window=1, minimum=3))
    shot_file = _shot(project, iterations=8)
    shot = load_shot(shot_file)
    assert render_frames(shot, [1001, 1004, 1002, 1003]).ok
    m = read_manifest(shot.manifest_path()).frames
    assert m[1001].iterations == 8 and m[1004].iterations == 8  # keyframes take the look's count
    assert 3 <= m[1002].iterations < 8 and 3 <= m[1003].iterations < 8
    from impasto.shot.estimate import planned_iterations

    with ShotRenderer(shot) as r:
        mean, recorded = planned_iterations(r, r.plan())
    between = float(np.median([m[1002].iterations, m[1003].iterations]))
    # still to paint: keyframes 1007, 1008 (8 each) and 1005, 1006 (the recorded median between keyframes)
    assert recorded == 4 and mean == pytest.approx((2 * 8 + 2 * between) / 4)
    res = runner.invoke(app, ["status", str(shot_file), "--no-flicker"])
    assert f"keyframes 8, between them {between:g}" in " ".join(res.output.split())


def test_a_version_painted_before_two_sided_renders_on_unchanged(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shot file that says neither `between` nor `iterations`, whose version holds frames painted by the impasto
    of before (forward, the look's count), keeps painting that way with its look hash; version-up moves it on."""
    import impasto.shot.identity as identity
    import impasto.shot.pipeline as pipeline

    def before(shot):  # the impasto of before this change: no between, no "auto"
        return shot.temporal.settled(painted_before=True)

    temporal = {"boil": 1.0, "chunk": 3, "pull": 1}
    old_file, ref_file = _shot(project, "old", temporal, folder="old"), _shot(project, "ref", temporal, folder="ref")
    with monkeypatch.context() as mp:
        mp.setattr(identity, "settled_temporal", before)
        mp.setattr(pipeline, "settled_temporal", before)
        assert render_frames(load_shot(old_file), [1001, 1004, 1002]).ok
        assert render_frames(load_shot(ref_file), [1001, 1004, 1002, 1003]).ok  # painted in one go, as before
    old = load_shot(old_file)
    legacy = read_manifest(old.manifest_path()).frames[1001].look_hash
    assert legacy.endswith("+boil1c3p1") and look_hash(old) == legacy
    res = runner.invoke(app, ["render", str(old_file), "--frames", "1003"])
    assert res.exit_code == 0, res.output
    m = read_manifest(old.manifest_path()).frames
    assert m[1003].look_hash == legacy and m[1003].start == "warped:1002" and m[1003].pulled_to == 1004
    assert np.array_equal(read_frame(old.output_path(1003)).rgb, read_frame(load_shot(ref_file).output_path(1003)).rgb)
    res = runner.invoke(app, ["shot", "version-up", str(old_file)])
    assert res.exit_code == 0, res.output
    assert "between" not in old_file.read_text()  # the file still leaves it unsaid: the new version takes today's
    new = load_shot(old_file)
    assert new.output.version == 2 and look_hash(new).endswith("+boil1c3tsiauto")


def test_bad_temporal_settings_are_one_sentence(project: Path) -> None:
    for bad in ({"boil": 1.0, "iterations": "fast"}, {"boil": 1.0, "iterations": 0}, {"boil": 1.0, "between": "both"}):
        res = runner.invoke(app, ["render", str(_shot(project, temporal=bad))])
        assert res.exit_code != 0 and "Traceback" not in res.output
        assert "temporal" in res.output
