"""A painter learned from the optimisation's own paintings (issue 26): the plan's TRAIN task and its frames, learning
from paintings (loss falls, u interpolates, resume), shots painted from keyframes (resume, changed keyframes learn
again, refusals), sweeps, and models saved before the learned painter existed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch
from typer.testing import CliRunner

from impasto.cli import app
from impasto.errors import UsageError
from impasto.fast.core import load_model
from impasto.fast.keyframes import ShotTrainer
from impasto.fast.learn import Example, LearnSettings, is_learned, learn
from impasto.io.images import write_image
from impasto.look import Look
from impasto.shot.config import load_shot
from impasto.shot.loop import render_frames
from impasto.shot.manifest import FrameEntry, read_manifest
from impasto.shot.plan import TRAIN, FrameFacts, Learned, frame_reason, plan_shot, units

runner = CliRunner()
DATA = Path(__file__).parent / "data"
FRAMES = list(range(1001, 1008))  # learned every 3: keyframes 1001, 1004, 1007
LOOK = "look-a"
TINY = LearnSettings(steps=12, batch=2, patch=32, preset="learned-tiny", device="cpu", checkpoint_every=4)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Renders here run on one torch thread (see conftest)."""


def _cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _one_sentence(output: str) -> None:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output


# ------------------------------------------------------------------------------------------------ the plan


def _done(painter: str | None = None) -> FrameFacts:
    entry = FrameEntry(status="done", look_hash=LOOK, input_hash="p", painter=painter, learned=painter is not None)
    return FrameFacts(entry=entry, output=True, opens=True, input_hash="p", learned=painter is not None, painter=painter)


def test_keyframes_then_train_then_the_learned_frames() -> None:
    facts = {n: FrameFacts(learned=n not in (1001, 1004, 1007)) for n in FRAMES}
    plan = plan_shot(FRAMES, facts, LOOK, learned=Learned(3))
    keys = [t for t in plan.tasks if t.role == "keyframe"]
    assert [t.key for t in keys] == [1001, 1004, 1007] and all(not t.needs for t in keys)
    train = plan.task(TRAIN)
    assert train.needs == {1001, 1004, 1007}
    assert [t.key for t in plan.tasks if t.role == "learned"] == [1002, 1003, 1005, 1006]
    assert all(t.needs == {TRAIN} for t in plan.tasks if t.role == "learned")
    assert plan.todo == [1001, 1004, 1007, 1002, 1003, 1005, 1006]
    work = units(plan, per_task=2)
    assert [u.frames for u in work] == [(1001,), (1004,), (1007,), (), (1002, 1003), (1005, 1006)]
    assert work[3].task == TRAIN and work[3].needs == {1001, 1004, 1007}
    assert all(u.waits == {TRAIN} for u in work[4:])


def test_no_train_when_the_painter_is_there_and_stale_frames_repaint() -> None:
    facts = {n: _done() for n in (1001, 1004, 1007)}
    facts.update({n: _done("p1") for n in (1002, 1003, 1005, 1006)})
    facts[1006] = FrameFacts(learned=True, painter="p1")  # killed before it was painted
    plan = plan_shot(FRAMES, facts, LOOK, learned=Learned(3, trained=True))
    assert plan.todo == [1006] and [t.key for t in plan.tasks] == [1006] and not plan.tasks[0].needs
    # The keyframes make another painter now: its frames paint again, after it is learned.
    new = {n: FrameFacts(entry=f.entry, output=True, opens=True, input_hash="p", learned=f.learned,
                         painter="p2" if f.learned else None) for n, f in facts.items()}
    assert frame_reason(new[1002], LOOK) == "keyframes changed"
    plan = plan_shot(FRAMES, new, LOOK, learned=Learned(3, trained=False))
    assert plan.todo == [1002, 1003, 1005, 1006] and plan.task(TRAIN).needs == frozenset()
    # While a keyframe is to paint, the painter it makes is not known yet.
    assert frame_reason(FrameFacts(entry=_done("p1").entry, output=True, opens=True, input_hash="p", learned=True), LOOK) \
        == "keyframes to paint first"


# ------------------------------------------------------------------------------------------------ learning


def _toy(content: np.ndarray, u: float) -> np.ndarray:
    """A toy look whose painting is a known function of u: the frame tinted toward red by u / 2."""
    red = np.zeros_like(content)
    red[..., 0] = 1.0
    return (1.0 - u / 4.0) * content + (u / 4.0) * red


def test_learning_from_paintings_fits_and_interpolates_in_u(content_rgb: np.ndarray, style_rgb: np.ndarray, tmp_path: Path) -> None:
    c = content_rgb[:64, :64]
    examples = [Example(c, _toy(c, 0.0), 0.0, "u0"), Example(c, _toy(c, 2.0), 2.0, "u2")]
    settings = LearnSettings(steps=150, batch=4, patch=32, preset="learned-tiny", device="cpu", lr=3e-3,
                             feature_weight=0.0, checkpoint_every=1000)
    result = learn(Look(size=64), [style_rgb], examples, tmp_path / "toy.pt", settings, resume=False)
    losses = [v for _, v in result.history]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    model = load_model(tmp_path / "toy.pt")
    assert is_learned(model) and model.u_range == (0.0, 2.0)
    lo, mid, hi = model.paint(c, [0.0, 1.0, 2.0], size=64, device="cpu")
    err = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    assert err(lo, _toy(c, 0.0)) < 0.5 * err(c, _toy(c, 2.0)) and err(hi, _toy(c, 2.0)) < 0.5 * err(c, _toy(c, 2.0))
    assert err(lo, hi) > 2 * max(err(lo, _toy(c, 0.0)), err(hi, _toy(c, 2.0)))
    # u 1 was never shown: the painter's picture there lies between the two it learned, not at either.
    redness = lambda a: float((a[..., 0] - a[..., 1:].mean(-1)).mean())  # noqa: E731
    share = (redness(mid) - redness(lo)) / (redness(hi) - redness(lo))
    assert 0.05 < share < 0.95, share


def test_learning_resumes_from_its_checkpoint(content_rgb: np.ndarray, style_rgb: np.ndarray, tmp_path: Path) -> None:
    c = content_rgb[:48, :48]
    examples = [Example(c, _toy(c, 1.0), 4.0, "a")]
    whole = learn(Look(size=48), [style_rgb], examples, tmp_path / "a.pt", TINY, resume=False)

    def killed(event) -> None:
        if event.done == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        learn(Look(size=48), [style_rgb], examples, tmp_path / "b.pt", TINY, resume=False, progress=killed)
    assert not (tmp_path / "b.pt").exists() and (tmp_path / "b.pt.ckpt").exists()
    again = learn(Look(size=48), [style_rgb], examples, tmp_path / "b.pt", TINY)
    assert again.resumed_from == 6 and again.steps == 12
    for (k, a), b in zip(whole.model.net.state_dict().items(), again.model.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    # Other paintings do not resume into this checkpoint: one sentence.
    other = [Example(c, _toy(c, 2.0), 4.0, "b")]
    with pytest.raises(UsageError, match="other paintings"):
        learn(Look(size=48), [style_rgb], other, tmp_path / "b.pt", TINY)


def test_what_cannot_be_learned_is_one_sentence(content_rgb: np.ndarray, style_rgb: np.ndarray, tmp_path: Path) -> None:
    c = content_rgb[:48, :48]
    with pytest.raises(UsageError, match="no paintings"):
        learn(Look(size=48), [style_rgb], [], tmp_path / "x.pt", TINY)
    with pytest.raises(UsageError, match="paint size"):
        learn(Look(size=48), [style_rgb], [Example(c, c[:40], 4.0, "a")], tmp_path / "x.pt", TINY)
    with pytest.raises(UsageError, match="share one paint size"):
        learn(Look(size=48), [style_rgb], [Example(c, c, 4.0, "a"), Example(c[:40], c[:40], 4.0, "b")], tmp_path / "x.pt", TINY)
    with pytest.raises(UsageError, match="patch"):
        learn(Look(size=48), [style_rgb], [Example(c, c, 4.0, "a")], tmp_path / "x.pt", LearnSettings(patch=30))


# ------------------------------------------------------------------------------------------------ models of before


def test_a_model_saved_before_the_learned_painter_loads_and_paints_as_it_did(content_rgb: np.ndarray) -> None:
    """tests/data/fast_v1_tiny.pt was written by impasto's fast train before this change (its paintings beside it)."""
    model = load_model(DATA / "fast_v1_tiny.pt")
    assert not is_learned(model) and model.config.norm == "instance"
    want = np.load(DATA / "fast_v1_tiny_paint.npz")
    got = model.paint(content_rgb, [2.0, 4.0, 6.0], size=64, device="cpu")
    for u, picture in zip((2, 4, 6), got):
        np.testing.assert_allclose(picture, want[f"u{u}"], atol=2e-4)


def test_a_learned_painter_exports_to_onnx(content_rgb: np.ndarray, style_rgb: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    c = content_rgb[:48, :48]
    learn(Look(size=48), [style_rgb], [Example(c, _toy(c, 1.0), 3.0, "a"), Example(c, _toy(c, 2.0), 5.0, "b")],
          tmp_path / "m.pt", TINY, resume=False)
    result = _cli("fast", "export", tmp_path / "m.pt", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.onnx").stat().st_size > 0


# ------------------------------------------------------------------------------------------------ shots


@pytest.fixture()
def project(tmp_path: Path, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    from skimage import data, transform

    big = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True).astype(np.float32)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    for i, n in enumerate(FRAMES):
        write_image(tmp_path / "plates" / f"pan.{n}.png", big[40:88, 10 + 2 * i:74 + 2 * i])
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    return tmp_path


def _shot(project: Path, name: str = "pan", render: dict | None = None, **extra: object) -> Path:
    data = {
        "name": name, "plate": "plates/pan.####.png", "frames": f"{FRAMES[0]}-{FRAMES[-1]}", "styles": ["style.png"],
        "look": {"iterations": 3, "size": 48, "seed": 5, "u": 4.0},
        "render": render if render is not None else {"device": "cpu", "learned": 3}, "output": {"folder": name},
        "learn": {"steps": 12, "batch": 2, "patch": 32, "preset": "learned-tiny"}, **extra,
    }
    path = project / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_a_shot_painted_from_keyframes_records_its_painter_and_resumes(project: Path) -> None:
    shot_file = _shot(project)
    result = _cli("render", shot_file)
    assert result.exit_code == 0, result.output
    assert "learned painter" in result.output
    shot = load_shot(shot_file)
    m = read_manifest(shot.manifest_path()).frames
    assert sorted(m) == FRAMES and all(e.status == "done" for e in m.values())
    keys = [n for n, e in m.items() if not e.learned]
    assert keys == [1001, 1004, 1007] and all(m[n].iterations == 3 for n in keys)
    painters = {m[n].painter for n in FRAMES if n not in keys}
    assert len(painters) == 1 and None not in painters
    assert all(m[n].init == "learned" and m[n].iterations is None for n in FRAMES if n not in keys)
    painter_file = shot.output_folder() / ".learned" / "v001" / f"painter-{painters.pop()}.pt"
    model = load_model(painter_file)
    assert is_learned(model) and model.record["keyframes"] == keys and model.u_range == (4.0, 4.0)
    # The painted frames differ from their plates (the painter paints) and read back whole.
    from impasto.io.frames import read_frame

    assert read_frame(shot.output_path(1002)).rgb.shape == (48, 64, 3)
    # A frame lost is painted again by the painter there, not learned again.
    shot.output_path(1005).unlink()
    again = _cli("render", shot_file)
    assert again.exit_code == 0, again.output
    m2 = read_manifest(shot.manifest_path()).frames
    assert m2[1005].finished > m[1005].finished and m2[1005].painter == m[1005].painter
    assert m2[1002].finished == m[1002].finished
    assert "rendering 1 of 7" in again.output
    status = _cli("status", shot_file)
    assert status.exit_code == 0 and "4 frames (1002-1003,1005-1006) painted by the learned painter" in status.output.replace("\n", " "), status.output


def test_changed_keyframes_learn_the_painter_again(project: Path) -> None:
    shot_file = _shot(project)
    shot = load_shot(shot_file)
    assert render_frames(shot, trainer=ShotTrainer(shot)).ok
    before = read_manifest(shot.manifest_path()).frames
    # A keyframe painted over (a new painting of it): the painter of the old keyframes no longer stands.
    from impasto.io.frames import read_frame, with_pixels, write_frame

    frame = read_frame(shot.output_path(1004))
    write_frame(shot.output_path(1004), with_pixels(frame, np.clip(frame.rgb * 0.5, 0, 1)))
    report = render_frames(shot, trainer=ShotTrainer(shot))
    assert report.ok and sorted(report.rendered) == [1002, 1003, 1005, 1006]
    after = read_manifest(shot.manifest_path()).frames
    assert after[1002].painter != before[1002].painter and report.learned == after[1002].painter


def test_a_killed_learning_resumes_from_its_checkpoint(project: Path) -> None:
    shot = load_shot(_shot(project))

    def killed(event) -> None:
        if type(event).__name__ == "TrainProgress" and event.done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(shot, trainer=ShotTrainer(shot), progress=killed)
    folder = shot.output_folder() / ".learned" / "v001"
    assert [p.name.endswith(".pt.ckpt") for p in folder.iterdir() if not p.name.startswith(".")] == [True]
    steps: list[int] = []
    report = render_frames(shot, trainer=ShotTrainer(shot),
                           progress=lambda e: steps.append(e.resumed_from) if type(e).__name__ == "TrainProgress" else None)
    assert report.ok and steps and steps[0] == 5  # saved as it was stopped: resumed there, not from 0


def test_two_local_renders_share_one_learning(project: Path) -> None:
    from tests.media import render_in_processes

    shot_file = _shot(project)
    out = render_in_processes(shot_file)
    m = read_manifest(load_shot(shot_file).manifest_path()).frames
    assert sorted(m) == FRAMES and all(e.status == "done" for e in m.values())
    assert len({e.painter for e in m.values() if e.learned}) == 1
    assert all(out.count(f"frame {n} done") == 1 for n in FRAMES)


def test_what_learned_refuses_is_one_sentence(project: Path) -> None:
    boil = _shot(project, "boil", temporal={"boil": 1.0})
    r = _cli("render", boil)
    assert r.exit_code != 0 and "boil" in r.output
    _one_sentence(r.output)
    plain = _shot(project, "plain", render={"device": "cpu"})
    for args, words in ((["--learned", "1"], "2 or more"), (["--learned", "3", "--cluster", "local"], "--cluster"),
                        (["--learned", "3", "--fast", "m.pt"], "--fast")):
        r = _cli("render", plain, *args)
        assert r.exit_code != 0 and words in r.output, r.output
        _one_sentence(r.output)
    (project / "matte.png").write_bytes(b"")
    regions = _shot(project, "regions", regions=[{"name": "fg", "matte": "alpha", "u": 2.0}])
    r = _cli("render", regions)
    assert r.exit_code != 0 and "regions" in r.output, r.output
    _one_sentence(r.output)


def test_learned_at_the_command_line_is_another_version_of_the_look(project: Path) -> None:
    plain = _shot(project, "plain", render={"device": "cpu"})
    from impasto.shot.identity import look_hash
    from impasto.shot.config import with_overrides

    shot = load_shot(plain)
    assert look_hash(with_overrides(shot, learned=3)).endswith("+learned3")
    assert "+learned" not in look_hash(shot)
    assert with_overrides(with_overrides(shot, learned=3), learned=0).render.learned is None


def test_a_farm_job_learns_once_between_keyframes_and_the_rest(project: Path) -> None:
    pytest.importorskip("openjd.model")
    shot_file = _shot(project)
    r = _cli("farm", "export", shot_file, "-o", project / "job")
    assert r.exit_code == 0, r.output
    template = json.loads((project / "job" / "template.json").read_text())
    steps = {s["name"]: s for s in template["steps"]}
    assert list(steps) == ["Keyframes", "Learn", "Learned"]
    assert steps["Learn"]["dependencies"] == [{"dependsOn": "Keyframes"}]
    assert steps["Learned"]["dependencies"] == [{"dependsOn": "Learn"}]


# ------------------------------------------------------------------------------------------------ sweeps


@pytest.fixture()
def swept(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny sweep of one frame at u 2, 3, 4 (2 and 3 iterations: the painter learns the 3-iteration cells)."""
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "frame.png", content_rgb[:48, :64])
    write_image(tmp_path / "style.png", style_rgb[:64, :64])
    write_image(tmp_path / "other.png", style_rgb[::-1, ::-1][:64, :64] * 0.5)
    r = _cli("sweep", "frame.png", "style.png", "--u", "2:4:1", "--iterations", "2,3", "--size", "48", "--seed", "0",
             "--device", "cpu", "-o", "sw")
    assert r.exit_code == 0, r.output
    return tmp_path


def test_a_painter_learned_from_a_sweep_paints_its_u_range(swept: Path) -> None:
    from impasto.fast.sweeps import sweep_paintings

    found = sweep_paintings("sw", leave_out=[3.0])
    assert [e.u for e in found.examples] == [2.0, 4.0] and found.iterations == 3 and found.swept == [2.0, 3.0, 4.0]
    assert found.examples[0].content.shape == found.examples[0].painting.shape == (36, 48, 3)
    r = _cli("fast", "learn", "sw", "-o", "m.pt", "--leave-out", "3", "--steps", "8", "--batch", "2", "--patch", "32",
             "--preset", "learned-tiny", "--device", "cpu", "--look", next(Path("sw/cells").glob("*.look.toml")))
    assert r.exit_code == 0, r.output
    model = load_model("m.pt")
    assert is_learned(model) and model.u_range == (2.0, 4.0) and model.record["left_out"] == [3.0]
    assert model.size == 48 and model.config.anchors == 2
    # It paints at any u of the range, the left-out one too; outside it, one sentence.
    r = _cli("fast", "stylize", "m.pt", "frame.png", "--u", "3", "-o", "u3.png")
    assert r.exit_code == 0, r.output
    r = _cli("fast", "stylize", "m.pt", "frame.png", "--u", "5", "-o", "u5.png")
    assert r.exit_code != 0 and "range" in r.output
    _one_sentence(r.output)
    # fast compare judges it on what it did not see: u 3 was left out, u 2 was learned.
    r = _cli("fast", "compare", "m.pt", "frame.png", "--u", "2,3", "--iterations", "2", "--device", "cpu",
             "--look", next(Path("sw/cells").glob("*.look.toml")), "-o", "cmp.png")
    assert r.exit_code == 0, r.output
    rows = json.loads(Path("cmp.json").read_text())["rows"]
    assert [(row["u"], row["seen_in_training"]) for row in rows] == [(2.0, True), (3.0, False)]
    assert all(np.isfinite(row["style_distance"]) and row["style_distance"] >= 0 for row in rows)
    # Resumes: more steps go on from the checkpoint.
    r = _cli("fast", "learn", "sw", "-o", "m.pt", "--leave-out", "3", "--steps", "10", "--batch", "2", "--patch", "32",
             "--preset", "learned-tiny", "--device", "cpu")
    assert r.exit_code == 0 and "resumed at step 8" in r.output, r.output


def test_paintings_of_another_look_or_not_a_sweep_are_refused(swept: Path) -> None:
    from impasto.look import LookFile, save_look

    save_look(Path("other.toml"), LookFile(look=Look(size=48), styles=[str(Path("other.png").resolve())]))
    cases = [
        (["fast", "learn", "sw", "-o", "m.pt", "--look", "other.toml"], "another look"),
        (["fast", "learn", ".", "-o", "m.pt"], "not a sweep folder"),
        (["fast", "learn", "sw", "-o", "m.pt", "--leave-out", "7"], "not a cell"),
        (["fast", "learn", "sw", "-o", "m.pt", "--leave-out", "2,3,4"], "leaves no cells"),
        (["fast", "learn", "sw", "-o", "m.pt", "--style", "nope.png"], "no style"),
    ]
    for args, words in cases:
        r = _cli(*args, "--steps", "1", "--device", "cpu")
        assert r.exit_code != 0 and words in r.output, (args, r.output)
        _one_sentence(r.output)
    # A frame changed since the sweep: its paintings are not of it any more.
    write_image(Path("frame.png"), np.zeros((48, 64, 3), np.float32))
    r = _cli("fast", "learn", "sw", "-o", "m.pt", "--steps", "1", "--device", "cpu")
    assert r.exit_code != 0 and "changed" in r.output, r.output
    _one_sentence(r.output)


def test_refined_learned_frames_run_a_few_iterations_from_the_painters_picture(project: Path) -> None:
    shot_file = _shot(project, "ref", learn={"steps": 6, "batch": 2, "patch": 32, "preset": "learned-tiny", "refine": 2})
    shot = load_shot(shot_file)
    from impasto.shot.identity import look_hash

    assert look_hash(shot).endswith("+learned3r2")
    report = render_frames(shot, trainer=ShotTrainer(shot))
    assert report.ok
    m = read_manifest(shot.manifest_path()).frames
    assert all(m[n].learned and m[n].iterations == 2 and m[n].loss is not None for n in (1002, 1003, 1005, 1006))


def test_learned_frames_go_through_scale_post_and_dissolve(project: Path) -> None:
    """The painter paints at the paint size; upscale, denoise and the dissolve with the plate are the shot's."""
    shot_file = _shot(project, "post", render={"device": "cpu", "learned": 3, "scale": 0.75},
                      post={"denoise": "bilateral", "strength": 0.5}, dissolve={"head": "1001-1003"})
    shot = load_shot(shot_file)
    assert render_frames(shot, trainer=ShotTrainer(shot)).ok
    from impasto.io.frames import read_frame

    m = read_manifest(shot.manifest_path()).frames
    assert m[1002].learned and m[1002].dissolve < 1.0 and m[1005].dissolve == 1.0
    for n in FRAMES:
        assert read_frame(shot.output_path(n)).rgb.shape == (48, 64, 3)
    model = load_model(next((shot.output_folder() / ".learned" / "v001").glob("painter-*.pt")))
    assert model.size == 48  # learned at the paint size: 0.75 of the 64 px plate
