"""Instant u: the fast model trains on the engine's loss, u takes effect, files round-trip, bad input is one sentence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from impasto.cli import app
from impasto.fast import TrainSettings, load_model, train
from impasto.fast.loss import GatysLoss, score
from impasto.io.images import write_image
from impasto.look import Look, LookFile, save_look

U_RANGE = (0.0, 8.0)
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, content_rgb: np.ndarray, style_rgb: np.ndarray):
    """A tiny model, a few steps on 64 px crops of one frame (no general photos: the test is about this frame)."""
    folder = tmp_path_factory.mktemp("fast")
    look = Look(size=64)
    settings = TrainSettings(u_range=U_RANGE, steps=24, batch=2, crop=64, lr=1e-2, preset="tiny", device="cpu",
                             checkpoint_every=1000, general_fraction=0.0)
    result = train(look, [style_rgb], [content_rgb], folder / "m.pt", settings, general=[], resume=False)
    return folder, look, result


def _cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _one_sentence(output: str) -> None:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output


def test_loss_falls(trained) -> None:
    _, _, result = trained
    losses = [v for _, v in result.history]
    assert len(losses) == 24
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])


def test_u_conditioning_takes_effect(trained, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """After the short training, the painting at the top of the u range is closer to the style than at the bottom."""
    _, look, result = trained
    lo, hi = U_RANGE
    low, high = result.model.paint(content_rgb, [lo, hi], size=64, device="cpu")
    assert not np.allclose(low, high, atol=1e-3)
    loss = GatysLoss(look, [style_rgb], 64, torch.device("cpu"))
    s_low = score(loss, low, content_rgb, lo)
    s_high = score(loss, high, content_rgb, hi)
    # Style terms without the ratio: the raw distance to the style's Gram matrices.
    assert s_high["style"] / s_high["ratio"] < s_low["style"] / s_low["ratio"]
    assert s_high["content"] > s_low["content"]
    # The per-layer split (fast compare's diagnosis) adds up to the same style term.
    from impasto.fast.loss import style_by_layer

    assert sum(style_by_layer(loss, high).values()) * s_high["ratio"] == pytest.approx(s_high["style"], rel=1e-4)


def test_save_load_round_trip(trained, content_rgb: np.ndarray) -> None:
    folder, _, result = trained
    loaded = load_model(folder / "m.pt")
    assert loaded.u_range == U_RANGE and loaded.style_id == result.model.style_id and loaded.size == 64
    a = result.model.paint(content_rgb, [1.0, 5.5], device="cpu")
    b = loaded.paint(content_rgb, [1.0, 5.5], device="cpu")
    assert a[0].shape == (64, 64, 3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # A sweep (one encode, many u) paints what one u at a time paints.
    one = loaded.paint(content_rgb, [5.5], device="cpu")[0]
    np.testing.assert_allclose(one, b[1], atol=1e-5)


def test_onnx_round_trip(trained, tmp_path: Path) -> None:
    import onnxruntime as ort

    folder, _, _ = trained
    r = _cli("fast", "export", folder / "m.pt", "-o", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    model = load_model(folder / "m.pt")
    image = torch.rand(1, 3, 40, 68, generator=torch.Generator().manual_seed(3))
    us = torch.tensor([0.5, 7.5], dtype=torch.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        ["painted"], {"image": image.numpy(), "u": us.numpy()})[0]
    with torch.no_grad():
        want = model.net(image, (us - U_RANGE[0]) / (U_RANGE[1] - U_RANGE[0])).numpy()
    assert got.shape == (2, 3, 40, 68)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_cli_stylize_and_sweep(trained, tmp_path: Path, content_rgb: np.ndarray) -> None:
    folder, _, _ = trained
    frame = write_image(tmp_path / "frame.png", content_rgb)
    r = _cli("fast", "stylize", folder / "m.pt", frame, "--u", "3.7", "-o", tmp_path / "out.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out.png").is_file()
    r = _cli("fast", "sweep", folder / "m.pt", frame, "--u", "0:8:2", "-o", tmp_path / "sheet.png", "--folder", tmp_path / "cells")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sheet.png").is_file()
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == ["u0.png", "u2.png", "u4.png", "u6.png", "u8.png"]


def test_u_outside_range_says_the_range(trained, tmp_path: Path, content_rgb: np.ndarray) -> None:
    folder, _, _ = trained
    frame = write_image(tmp_path / "frame.png", content_rgb)
    r = _cli("fast", "stylize", folder / "m.pt", frame, "--u", "9", "-o", tmp_path / "out.png")
    assert r.exit_code == 2
    _one_sentence(r.output)
    assert "0 to 8" in r.output
    assert not (tmp_path / "out.png").exists()
    r = _cli("fast", "sweep", folder / "m.pt", frame, "--u", "6:10:2", "-o", tmp_path / "sheet.png")
    assert r.exit_code == 2 and "0 to 8" in r.output
    assert not (tmp_path / "sheet.png").exists()


def test_corrupt_or_foreign_model_file(tmp_path: Path, content_rgb: np.ndarray) -> None:
    frame = write_image(tmp_path / "frame.png", content_rgb)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a model" * 10)
    r = _cli("fast", "stylize", bad, frame, "--u", "4", "-o", tmp_path / "out.png")
    assert r.exit_code == 2
    _one_sentence(r.output)
    assert "not a readable impasto fast model" in r.output
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    r = _cli("fast", "export", tmp_path / "other.pt", "-o", tmp_path / "o.onnx")
    assert r.exit_code == 2 and "not an impasto fast model" in r.output
    r = _cli("fast", "stylize", tmp_path / "missing.pt", frame, "--u", "4")
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "o.onnx").exists()


def test_model_for_another_style(trained, tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    folder, _, _ = trained
    frame = write_image(tmp_path / "frame.png", content_rgb)
    same = write_image(tmp_path / "style.png", style_rgb)
    other = write_image(tmp_path / "other.png", style_rgb[::-1].copy())
    save_look(tmp_path / "same.toml", LookFile(look=Look(size=64), styles=[str(same)]))
    save_look(tmp_path / "other.toml", LookFile(look=Look(size=64), styles=[str(other)]))
    r = _cli("fast", "stylize", folder / "m.pt", frame, "--u", "4", "--look", tmp_path / "same.toml", "-o", tmp_path / "a.png")
    assert r.exit_code == 0, r.output
    r = _cli("fast", "stylize", folder / "m.pt", frame, "--u", "4", "--look", tmp_path / "other.toml", "-o", tmp_path / "b.png")
    assert r.exit_code == 2
    _one_sentence(r.output)
    assert "another style" in r.output and not (tmp_path / "b.png").exists()


def test_cli_train_resume_and_plate_sizes(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    plates = tmp_path / "plates"
    plates.mkdir()
    for n in (1001, 1002):
        write_image(plates / f"sh.{n}.png", np.roll(content_rgb, 5 * (n - 1001), axis=1))
    style = write_image(tmp_path / "style.png", style_rgb)
    save_look(tmp_path / "look.toml", LookFile(look=Look(size=48), styles=[str(style)]))

    def train_cli(steps: int, u: str = "2:6", out: str = "m.pt"):
        return _cli("fast", "train", tmp_path / "look.toml", "--plate", plates / "sh.####.png", "--u", u, "-o", tmp_path / out,
                    "--preset", "tiny", "--crop", "32", "--batch", "1", "--device", "cpu", "--general-fraction", "0.5",
                    "--steps", str(steps))

    r = train_cli(2)
    assert r.exit_code == 0, r.output
    assert "2 frame(s)" in r.output and (tmp_path / "m.pt.ckpt").is_file()
    r = train_cli(3)
    assert r.exit_code == 0, r.output
    assert "resumed at step 2" in r.output
    assert load_model(tmp_path / "m.pt").record["steps"] == 3
    # a checkpoint for another u range is not silently reused
    r = train_cli(3, u="1:5")
    assert r.exit_code == 2 and "--fresh" in r.output
    # frames of another size in the plate: one sentence, exit 2, nothing written
    write_image(plates / "sh.1003.png", content_rgb[:80])
    r = train_cli(1, out="n.pt")
    assert r.exit_code == 2
    _one_sentence(r.output)
    assert "conform the plate" in r.output and not (tmp_path / "n.pt").exists()
    r = _cli("fast", "train", tmp_path / "look.toml", "--plate", plates / "sh.####.png", "--u", "6:2", "-o", tmp_path / "x.pt")
    assert r.exit_code == 2 and "lower to a higher u" in r.output


def test_compare_reports_losses(trained, tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    import json

    folder, _, _ = trained
    frame = write_image(tmp_path / "frame.png", content_rgb)
    style = write_image(tmp_path / "style.png", style_rgb)
    save_look(tmp_path / "look.toml", LookFile(look=Look(size=64), styles=[str(style)]))
    r = _cli("fast", "compare", folder / "m.pt", frame, "--u", "2,6", "--iterations", "3", "--look", tmp_path / "look.toml",
             "--device", "cpu", "-o", tmp_path / "cmp.png")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert [row["u"] for row in data["rows"]] == [2.0, 6.0]
    for row in data["rows"]:
        assert row["fast"]["total"] > 0 and row["optimised"]["total"] > 0
        assert row["relative"]["total"] == pytest.approx(row["fast"]["total"] / row["optimised"]["total"])
        assert row["matching_iteration"] is None or 1 <= row["matching_iteration"] <= 3
        assert list(row["style_by_layer"]) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        assert all(v > 0 for v in row["style_by_layer"].values())
    assert (tmp_path / "cmp.png").is_file()


def test_matching_iteration_reads_the_optimisation_history() -> None:
    from impasto.fast.compare import CompareRow

    def row(fast_total: float) -> CompareRow:
        return CompareRow("f", 4.0, {"total": fast_total}, {"total": 10.0}, 0.0, 0.0, [80.0, 40.0, 20.0, 12.0, 10.0])

    assert row(50.0).matching_iteration() == 2  # 5x the end: iteration 1 is worse (8x), iteration 2 better (4x)
    assert row(20.0).matching_iteration() == 3  # equal counts as matched
    assert row(100.0).matching_iteration() == 1  # worse than one iteration
    assert row(9.0).matching_iteration() is None  # better than the whole run


def _two_frame_shot(content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """plates/sh.1001-1002.png (shifted copies of the content), style.png and look.toml in the working folder."""
    Path("plates").mkdir()
    for n in (1001, 1002):
        write_image(f"plates/sh.{n}.png", np.roll(content_rgb, 3 * (n - 1001), axis=0))
    write_image("style.png", style_rgb)
    save_look("look.toml", LookFile(look=Look(size=64, u=5.0), styles=["style.png"]))


def test_shot_render_with_fast_model(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """`impasto render --fast`'s core: every frame of a shot painted by the fast model, through the shot pipeline."""
    import shutil

    from impasto.fast.hooks import FastPreviewer, FastShotRenderer, model_for_look
    from impasto.shot.setup import init_shot
    from impasto.shot.loop import render_frames

    folder, _, result = trained
    monkeypatch.chdir(tmp_path)
    _two_frame_shot(content_rgb, style_rgb)
    _, shot = init_shot("sh", "plates/sh.####.png", None, "look.toml")
    with FastShotRenderer(shot, folder / "m.pt", device="cpu") as renderer:
        report = render_frames(shot, renderer=renderer)
    assert report.rendered == [1001, 1002] and not report.failed
    assert all(shot.output_path(n).is_file() for n in (1001, 1002))
    assert "-fast-" in renderer.look_hash

    # the studio's slider: the look's own model is found, and a u paints what the model paints
    assert model_for_look("look.toml") is None or model_for_look("look.toml") == Path("m.pt")
    shutil.copy(folder / "m.pt", "look.fast.pt")
    assert model_for_look("look.toml") == Path("look.fast.pt")
    previewer = FastPreviewer()
    a = previewer.paint("look.fast.pt", content_rgb, 2.0)
    b = previewer.paint("look.fast.pt", content_rgb, 6.0)
    np.testing.assert_allclose(b, result.model.paint(content_rgb, [6.0], device="cpu")[0], atol=1e-5)
    assert not np.allclose(a, b, atol=1e-3)
    save_look("other.toml", LookFile(look=Look(size=64, style_scale=2.0), styles=["style.png"]))
    assert model_for_look("other.toml") is None


def test_render_command_with_fast_model(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """`impasto render SHOT --fast MODEL` paints the shot with the model; --cluster with --fast is refused."""
    from impasto.shot.setup import init_shot

    folder, _, _ = trained
    monkeypatch.chdir(tmp_path)
    _two_frame_shot(content_rgb, style_rgb)
    shot_path, shot = init_shot("sh", "plates/sh.####.png", None, "look.toml")
    r = _cli("render", shot_path, "--fast", folder / "m.pt", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert all(shot.output_path(n).is_file() for n in (1001, 1002))
    again = _cli("render", shot_path, "--fast", folder / "m.pt", "--device", "cpu")
    assert again.exit_code == 0 and "done" in again.output
    both = _cli("render", shot_path, "--fast", folder / "m.pt", "--cluster", "local")
    assert both.exit_code == 2 and "drop --cluster" in both.output


def test_crop_ratio_keeps_the_frames_per_pixel_balance(style_rgb: np.ndarray) -> None:
    """A crop trains at the whole frame's ratio (paint size) times its share of the frame's pixels."""
    from impasto.fast.train import crop_ratios

    look = Look(size=256)
    loss = GatysLoss(look, [style_rgb], 256, torch.device("cpu"))
    (full,) = crop_ratios(loss, [4.0], 256, 256 * 192, 256)
    # A crop of the frame's own pixel count gets the frame's ratio; a quarter of the pixels, a quarter of it.
    assert full == pytest.approx(loss.ratio(4.0, 256) * 256 * 256 / (256 * 192))
    (quarter,) = crop_ratios(loss, [4.0], 128, 256 * 256, 256)
    assert quarter == pytest.approx(loss.ratio(4.0, 256) / 4)
    # Independent of k: with k = 1 the crop's ratio is still the frame's times the pixel share.
    loss.look = look.model_copy(update={"k": 1.0})
    (k1,) = crop_ratios(loss, [4.0], 128, 256 * 256, 256)
    assert k1 == pytest.approx(1e4 * (256 / 512) / 4)


def test_linear_objective_and_unknown_objective(content_rgb: np.ndarray, style_rgb: np.ndarray, tmp_path: Path) -> None:
    from impasto.errors import UsageError

    settings = TrainSettings(u_range=U_RANGE, steps=3, batch=2, crop=32, preset="tiny", device="cpu",
                             objective="linear", general_fraction=0.0)
    result = train(Look(size=64), [style_rgb], [content_rgb], tmp_path / "m.pt", settings, general=[], resume=False)
    assert result.steps == 3 and result.model.record["objective"] == "linear"
    with pytest.raises(UsageError, match="objective"):
        TrainSettings(objective="huber").check()


def test_u_anchor_tables_interpolate_and_export(tmp_path: Path) -> None:
    """Conditional instance norm tables at u anchors: linear between anchors, saved, loaded and exported alike."""
    import onnxruntime as ort

    from impasto.fast.core import FastModel
    from impasto.fast.export import export_onnx
    from impasto.fast.model import FastConfig, FastStyleNet

    torch.manual_seed(0)
    net = FastStyleNet(FastConfig(width=4, blocks=1, first_kernel=3, embed=2, hidden=8, anchors=3)).eval()
    with torch.no_grad():
        net.film_table.normal_(0.0, 0.3)
        net.out[-1].weight.normal_(0.0, 0.1)
    with torch.no_grad():
        gamma = net.film_params(torch.tensor([0.0, 0.25, 0.5, 1.0]))[0][0]
    # Halfway between anchors 0 and 1 (t 0.25) the scale is the mean of theirs (the MLP part is zero here).
    np.testing.assert_allclose(gamma[1].numpy(), ((gamma[0] + gamma[2]) / 2).numpy(), atol=1e-6)
    assert not torch.allclose(gamma[0], gamma[3])
    model = FastModel(net=net, u_range=(2.0, 6.0), style_id="x", size=64, weights_origin="test", look=Look(size=64))
    model.save(tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    image = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(image, (torch.tensor([2.5, 5.0]) - 2.0) / 4.0)
        np.testing.assert_array_equal(loaded.net(image, (torch.tensor([2.5, 5.0]) - 2.0) / 4.0).numpy(), want.numpy())
    assert not torch.allclose(want[0], want[1], atol=1e-4)
    export_onnx(loaded, tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        ["painted"], {"image": image.numpy(), "u": np.array([2.5, 5.0], dtype=np.float32)})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4)


def test_default_networks_paint_no_band_at_the_edges() -> None:
    """A flat frame stays flat up to its edges: the per-u layers pad by reflection (zero padding drew a band)."""
    from impasto.fast.model import PRESETS, FastStyleNet

    torch.manual_seed(0)
    flat = torch.full((1, 3, 48, 64), 0.4)
    for name in ("small", "large"):
        net = FastStyleNet(PRESETS[name]).eval()
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0.0, 0.2)
            out = net(flat, torch.tensor([0.5]))
        assert float(out.std(dim=(2, 3)).max()) < 1e-4, name
    zero_padded = FastStyleNet(dataclasses.replace(PRESETS["small"], reflect=False)).eval()
    with torch.no_grad():
        for p in zero_padded.parameters():
            p.normal_(0.0, 0.2)
        assert float(zero_padded(flat, torch.tensor([0.5])).std(dim=(2, 3)).max()) > 1e-3


def test_fast_train_takes_its_defaults_from_train_settings() -> None:
    """`fast train`'s options default to TrainSettings' fields (and read_training_frames' max_frames), stated once."""
    import inspect

    import typer.main

    from impasto.fast.train import read_training_frames

    train_cmd = typer.main.get_command(app).commands["fast"].commands["train"]
    params = {p.name: p.default for p in train_cmd.params}
    s = TrainSettings()
    assert params["u"] == f"{s.u_range[0]:g}:{s.u_range[1]:g}"
    for name in ("steps", "batch", "crop", "size", "preset", "lr", "general_fraction", "checkpoint_every", "seed", "device"):
        assert params[name] == getattr(s, name), name
    assert params["compile_net"] == s.compile and params["amp"] == s.amp and params["minutes"] is s.time_limit
    assert params["max_frames"] == inspect.signature(read_training_frames).parameters["max_frames"].default
