"""Sweeps: range parsing, grid shape and labels, contact sheet and index.html, resume, snapshots = separate runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import impasto.api as engine
import impasto.objective.targets as targets
from impasto.cli import app
from impasto.errors import UsageError
from impasto.io.images import read_image, write_image
from impasto.look import Look, load_look
from impasto.lookdev.sweep import CELLS, INDEX, MANIFEST, SHEET, choose_workers, parse_values, plan_sweep, run_sweep
from impasto.lru import LRU
from impasto.optim.memory import estimate_memory

SIZE = 32
ITS = [2, 4]
US = [2.0, 3.0]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # 32 px renders gain nothing from intra-op threads, and on a shared, busy CPU two spinning threads per op
    # make them some 30x slower; results are the same either way.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from skimage import data
    from skimage.transform import resize

    folder = tmp_path_factory.mktemp("sweep-inputs")
    small = lambda img, hw: resize(img, hw, anti_aliasing=True).astype(np.float32)
    return (
        write_image(folder / "frame.png", small(data.astronaut(), (48, 48))),
        write_image(folder / "paint_a.png", small(data.coffee(), (48, 64))),
        write_image(folder / "paint_b.png", small(data.chelsea(), (48, 64))),
    )


@pytest.fixture(scope="module")
def swept(inputs, tmp_path_factory: pytest.TempPathFactory):
    """A 2-style × 2-u × 2-iteration sweep that is interrupted after 3 cells, then resumed to the end."""
    frame, a, b = inputs
    folder = tmp_path_factory.mktemp("sweeps") / "grid"
    plan = plan_sweep(frame, [a, b], folder, Look(size=SIZE, seed=1), us=US, iterations=ITS)

    counted: list[int] = []
    real = targets.style_targets

    def counting_targets(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(targets, "style_targets", counting_targets)
    mp.setattr(targets, "_CACHE", LRU())  # nothing cached from other tests

    def stop_after_three(event) -> None:
        if event.scope == "cell" and event.kind == "done" and event.done == 3:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(plan, device="cpu", progress=stop_after_three)
        first = json.loads((folder / MANIFEST).read_text())["cells"]
        report = run_sweep(plan, device="cpu")
    finally:
        mp.undo()
    return plan, report, first, len(counted)


def test_ranges_include_the_end_and_survive_float_error() -> None:
    assert parse_values("2:6:0.5", "--u") == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]
    assert parse_values("0.1:0.3:0.1", "--u") == [0.1, 0.2, 0.3]
    assert parse_values("2:4", "--u") == [2.0, 3.0, 4.0]
    assert parse_values("3, 5,4,5", "--u") == [3.0, 5.0, 4.0]
    assert parse_values("64:256:64", "--iterations", integer=True) == [64, 128, 192, 256]
    assert parse_values("7", "--seeds", integer=True) == [7]


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("  ", "empty"), ("6:2:0.5", "reversed"), ("2:6:0", "zero step"), ("2:6:-0.5", "negative step"),
    ("a,b", "not a list"), ("1,,2", "empty item"), ("2:6:0.5:1", "not a range"), ("2:x", "not a range"),
    ("1:inf", "finite"), ("0:1e9:1", "more than"),
])
def test_bad_ranges_are_one_sentence(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_values(text, "--u")
    msg = str(info.value)
    assert words in msg and "\n" not in msg and msg.endswith(".")


def test_iterations_must_be_whole() -> None:
    with pytest.raises(UsageError, match="whole numbers"):
        parse_values("64,128.5", "--iterations", integer=True)


@pytest.mark.parametrize("u", ["6:2:0.5", "2:6:0", ""])
def test_cli_bad_range_exits_2_and_writes_nothing(inputs, tmp_path: Path, u: str) -> None:
    frame, a, _ = inputs
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, ["sweep", str(frame), str(a), "--u", u, "--size", str(SIZE), "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --u") and "Traceback" not in result.output
    assert not out.exists()


def test_sweep_that_cannot_fit_says_so_and_writes_nothing(inputs, tmp_path: Path) -> None:
    frame, a, _ = inputs
    out = tmp_path / "huge"
    result = CliRunner().invoke(app, ["sweep", str(frame), str(a), "--size", "16384", "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 2 and "no cells fit" in result.output
    assert not out.exists()


def test_parallel_beyond_memory_says_how_many_fit(inputs, tmp_path: Path) -> None:
    frame, a, _ = inputs
    plan = plan_sweep(frame, [a], tmp_path / "p", Look(size=SIZE, seed=0), us=[2, 3, 4])
    need = estimate_memory(*plan.hw, "vgg16", "lbfgs")
    free = int(need * 1.25 * 2.5)  # room for two cells at once, with the margin
    with pytest.raises(UsageError, match=r"2 fit at once, so use --parallel 2"):
        choose_workers(plan, torch.device("cuda"), 3, free)
    assert choose_workers(plan, torch.device("cuda"), None, free) == 2
    assert choose_workers(plan, torch.device("cpu"), None, free) == 1  # torch already uses every core on CPU
    with pytest.raises(UsageError, match="no cells fit"):
        choose_workers(plan, torch.device("cpu"), None, need // 2)
    assert not (tmp_path / "p").exists()


def test_grid_shape_files_and_look_files(swept) -> None:
    plan, report, _, _ = swept
    assert (plan.rows, plan.cols) == (2 * len(ITS), len(US)) and len(plan.cells) == 8
    assert report.plan is plan and not (set(map(id, report.rendered)) & set(map(id, report.skipped)))
    cells = sorted(p.name for p in (plan.folder / CELLS).glob("*.png"))
    assert len(cells) == 8 and len(list((plan.folder / CELLS).glob("*.look.toml"))) == 8
    for cell in plan.cells:
        saved = load_look(plan.folder / cell.look_file)
        assert (saved.look.u, saved.look.iterations, saved.look.seed) == (cell.u, cell.iterations, 1)
        assert saved.styles == [str(cell.variant.style.resolve())] and saved.look.style_weights is None
        assert read_image(plan.folder / cell.image).shape == (plan.hw[0], plan.hw[1], 3)
        # rows: style blocks, then iteration sub-rows; columns: u
        assert cell.row == plan.styles.index(cell.variant.style) * len(ITS) + ITS.index(cell.iterations)
        assert cell.col == US.index(cell.u)
    manifest = json.loads((plan.folder / MANIFEST).read_text())
    assert manifest["axes"]["u"] == US and manifest["axes"]["iterations"] == ITS and len(manifest["cells"]) == 8


def test_style_targets_once_per_style_and_one_run_per_u(swept) -> None:
    plan, _, _, target_calls = swept
    assert target_calls == 2  # two style images, four runs
    assert len(plan.runs()) == len(plan.styles) * len(US)


def test_contact_sheet_places_every_cell_under_its_labels(swept) -> None:
    plan, report, _, _ = swept
    sheet = read_image(plan.folder / SHEET)
    layout = report.layout
    assert sheet.shape[:2] == (layout.height, layout.width) and layout.labelled
    assert set(layout.boxes) == {(c.row, c.col) for c in plan.cells}
    xs = sorted({x for x, _, _, _ in layout.boxes.values()})
    ys = sorted({y for _, y, _, _ in layout.boxes.values()})
    assert len(xs) == plan.cols and len(ys) == plan.rows
    assert layout.width >= plan.cols * plan.hw[1] and layout.height >= plan.rows * plan.hw[0]
    background = sheet[1, -2]
    for cell in plan.cells:
        x, y, w, h = layout.boxes[(cell.row, cell.col)]
        np.testing.assert_allclose(sheet[y:y + h, x:x + w], read_image(plan.folder / cell.image), atol=1.5 / 255)
        label = sheet[y + h:y + h + 30, x:x + w]
        assert np.abs(label - background).max() > 0.3  # the parameters are drawn under the cell


def test_index_lists_every_cell_with_its_parameters(swept) -> None:
    plan, _, _, _ = swept
    page = (plan.folder / INDEX).read_text()
    for cell in plan.cells:
        assert f'src="{cell.image}"' in page and f'href="{cell.look_file}"' in page
        assert f"u {cell.u:g}, {cell.iterations} it" in page
    assert page.count("<tr>") == plan.rows + 1 and all(f"<th>u {u:g}</th>" in page for u in US)
    assert re.search(r'href="contact_sheet\.png"', page)


def test_interrupted_sweep_resumes_where_it_stopped(swept) -> None:
    _, report, first, _ = swept
    assert len(first) == 3  # three cells were on disk when it stopped
    assert {c.name for c in report.skipped} == set(first)
    assert len(report.rendered) == 5 and report.runs == 3


def test_only_a_deleted_cell_renders_again(swept) -> None:
    plan, _, _, _ = swept
    gone = next(c for c in plan.cells if c.variant.style.name == "paint_b.png" and c.u == 3.0 and c.iterations == 2)
    (plan.folder / gone.image).unlink()
    events: list = []
    report = run_sweep(plan, device="cpu", progress=events.append)
    iterations = [e.iteration for e in events if e.scope == "iteration"]
    assert [c.name for c in report.rendered] == [gone.name] and len(report.skipped) == 7
    assert iterations == [1, 2]  # one run, only as far as the missing cell needs
    assert (plan.folder / gone.image).is_file()

    # A look file that no longer matches its cell (edited by hand) also renders again.
    other = next(c for c in plan.cells if c is not gone)
    path = plan.folder / other.look_file
    path.write_text(path.read_text().replace("u = 3.0", "u = 3.5").replace("u = 2.0", "u = 2.5"))
    report = run_sweep(plan, device="cpu")
    assert [c.name for c in report.rendered] == [other.name]


def test_snapshots_equal_separate_runs(inputs) -> None:
    frame, a, _ = inputs
    look = Look(size=SIZE, iterations=8, seed=5, init="noise")
    one = engine.render(frame, a, look, device="cpu", snapshots=[4, 8])
    four = engine.render(frame, a, look.model_copy(update={"iterations": 4}), device="cpu")
    assert sorted(one.snapshots) == [4, 8]
    assert np.array_equal(one.snapshots[4], four.image)
    assert np.array_equal(one.snapshots[8], one.image)
    eight = engine.render(frame, a, look, device="cpu")
    assert np.array_equal(one.image, eight.image)


def test_sweep_cells_equal_separate_renders_of_their_look_file(swept) -> None:
    plan, _, _, _ = swept
    cell = next(c for c in plan.cells if c.iterations == 2 and c.u == 2.0)
    saved = load_look(plan.folder / cell.look_file)
    alone = engine.render(saved.content, saved.styles, saved.look, device="cpu").image
    expected = np.round(alone * 255) / 255
    np.testing.assert_allclose(read_image(plan.folder / cell.image), expected, atol=1e-6)


def test_parallel_cells_match_sequential_cells(swept, tmp_path: Path) -> None:
    plan, _, _, _ = swept
    frame = plan.content
    again = plan_sweep(frame, [plan.styles[0]], tmp_path / "par", Look(size=SIZE, seed=1), us=US, iterations=[2])
    report = run_sweep(again, device="cpu", workers=2)
    assert report.workers == 2 and len(report.rendered) == 2
    for cell in again.cells:
        np.testing.assert_allclose(read_image(again.folder / cell.image), read_image(plan.folder / cell.image), atol=2 / 255)


def test_cli_sweep_writes_the_folder_and_resumes(inputs, tmp_path: Path) -> None:
    frame, a, _ = inputs
    out = tmp_path / "sweeps" / "styles"
    args = ["sweep", str(frame), str(a), "--u", "2,3", "--iterations", "2", "--seeds", "1", "--size", str(SIZE),
            "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rendered 2 in 2 runs, kept 0" in " ".join(result.output.split())
    assert (out / SHEET).is_file() and (out / INDEX).is_file() and len(list((out / CELLS).glob("*.png"))) == 2
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "rendered 0 in 0 runs, kept 2" in " ".join(result.output.split())
