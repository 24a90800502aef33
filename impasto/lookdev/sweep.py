"""Sweeps: a grid of renders over u, iteration counts, style variants and seeds, in one resumable folder.

Layout of the grid (the contact sheet and index.html follow it):
  columns   = u values, low to high;
  row blocks = style variants (in the order given) × seeds;
  sub-rows  = iteration counts inside each block, so reading down a block shows texture building up
              and reading across shows unrealness growing.

One optimisation runs per (style, seed, u) to the largest iteration count; the smaller counts are its
snapshots, which equal separate runs of that many iterations (L-BFGS state does not depend on the
iteration budget). Style targets are cached by the engine, and runs are ordered style by style so
each style image's targets are computed once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from impasto.api import render
from impasto.devices import available_memory, resolve_device
from impasto.errors import ImpastoError, UsageError, validation_sentence
from impasto.features.net import feature_net
from impasto.files import atomic_write_text, file_digest
from impasto.io.images import write_image
from impasto.io.mattes import read_matte
from impasto.io.sequence import split_movie_frame
from impasto.io.tensors import fit_size, load_rgb
from impasto.look import Look, LookFile, load_look, rebase_regions, save_look
from impasto.lookdev.contact_sheet import (
    SheetCell,
    SheetGrid,
    SheetLayout,
    write_contact_sheet,
    write_index,
)
from impasto.lookdev.saturation import SATURATES_BELOW, Saturation, measure, sweep_warning
from impasto.objective.guides import Guides, Region
from impasto.objective.regions import load_regions
from impasto.optim.memory import estimate_memory
from impasto.progress import CellEvent, OnEvent
from impasto.version import __version__

MANIFEST = "sweep.json"
SHEET = "contact_sheet.png"
INDEX = "index.html"
CELLS = "cells"
MANIFEST_VERSION = 1
MAX_VALUES = 1000  # values on one axis
MAX_CELLS = 5000  # cells in one sweep
MAX_AUTO_PARALLEL = 4  # concurrent cells on one GPU when the user does not say
MEMORY_MARGIN = 1.25  # estimate_memory is rough; leave room when several cells share a device
LAYOUT = "columns: u; row blocks: style x seed; sub-rows: iterations"


# ---------------------------------------------------------------- parsing


def parse_values(text: str, what: str, *, integer: bool = False) -> list:
    """`first:last:step` (last included, step defaults to 1) or a comma list; order kept, duplicates dropped."""
    text = (text or "").strip()
    example = "64,128,256 or 64:256:64" if integer else "2:6:0.5 or 3,4,5"
    if not text:
        raise UsageError(f"{what} is empty; give a range or a list like {example}.")
    if ":" in text:
        values = _parse_range(text, what, example)
    else:
        parts = [p.strip() for p in text.split(",")]
        if any(not p for p in parts):
            raise UsageError(f"{what} '{text}' has an empty item; give a list like {example}.")
        values = _numbers(parts, text, what, f"is not a list of numbers; give a list like {example}")
    if integer:
        if any(abs(v - round(v)) > 1e-9 for v in values):
            raise UsageError(f"{what} '{text}' must be whole numbers, like {example}.")
        values = [round(v) for v in values]
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _numbers(parts: Sequence[str], text: str, what: str, not_numbers: str) -> list[float]:
    """The parts as finite floats; one sentence ('<what> '<text>' <not_numbers>.') otherwise."""
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"{what} '{text}' {not_numbers}.") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{what} '{text}' holds a value that is not a finite number.")
    return values


def _parse_range(text: str, what: str, example: str) -> list[float]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"{what} '{text}' is not a range; give first, last and step like {example}.")
    nums = _numbers(parts, text, what, f"is not a range of numbers; give first, last and step like {example}")
    a, b = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1.0
    if step == 0:
        raise UsageError(f"{what} '{text}' has a zero step; use a positive step, like {example}.")
    if step < 0:
        raise UsageError(f"{what} '{text}' has a negative step; write the range low to high with a positive step, like {example}.")
    if a > b:
        raise UsageError(f"{what} '{text}' is reversed (its start {a:g} is above its end {b:g}); write {b:g}:{a:g}:{step:g}.")
    span = (b - a) / step
    if span + 1 > MAX_VALUES:
        raise UsageError(f"{what} '{text}' has {math.floor(span) + 1} values, more than the {MAX_VALUES} a sweep takes.")
    # The end is included even when (b - a) / step lands a hair below a whole number in floating point.
    n = math.floor(span + 1e-9 * max(1.0, span)) + 1
    return [round(a + i * step, 10) for i in range(n)]


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Variant:
    """One block of rows: a style image and a seed."""

    index: int
    style: Path
    seed: int
    key: str  # filename-safe, unique in the sweep

    @property
    def label(self) -> str:
        return f"{self.style.stem}, seed {self.seed}"


@dataclass(eq=False)
class Cell:
    """One image of the grid."""

    name: str
    row: int
    col: int
    variant: Variant
    u: float
    iterations: int
    look: Look
    region: str | None = None  # the region whose u varies across the sweep (None: the look's u)

    @property
    def image(self) -> str:
        return f"{CELLS}/{self.name}.png"

    @property
    def look_file(self) -> str:
        return f"{CELLS}/{self.name}.look.toml"

    @property
    def lines(self) -> list[str]:
        """The parameters printed under the cell."""
        return [f"{u_label(self.u, self.region)}, {self.iterations} it", self.variant.label]


@dataclass(eq=False)
class Run:
    """One optimisation: a variant at one u, to the largest iteration count; the cells are its snapshots."""

    variant: Variant
    u: float
    cells: list[Cell]

    @property
    def iterations(self) -> int:
        return max(c.iterations for c in self.cells)


@dataclass(eq=False)
class SweepPlan:
    content: Path
    styles: list[Path]
    us: list[float]
    iterations: list[int]
    seeds: list[int]
    base: Look
    folder: Path
    variants: list[Variant]
    cells: list[Cell]
    hw: tuple[int, int]  # every cell's height and width
    content_rgb: np.ndarray = field(repr=False)
    style_rgbs: list[np.ndarray] = field(repr=False)
    digests: dict[str, str] = field(repr=False)  # file path -> sha1 of its bytes
    saturation: list[Saturation | None] | None = field(default=None, repr=False)  # per style; check_saturation
    warning: str | None = None  # one line when some u values lie where more u changes little (check_saturation)
    region: str | None = None  # the region whose u is the u axis (None: the look's u)
    warnings: list[str] = field(default_factory=list)  # about the look's regions (small or overlapping mattes)
    regions: list[Region] = field(default_factory=list, repr=False)  # the look's, read at the content's size

    def guides(self, u: float) -> Guides | None:
        """The regions a run at u paints with, or None without regions: `region`'s u set to u; without `region`, u
        is the look's, which the regions that have no u of their own follow."""
        if not self.regions:
            return None
        varied = {self.region} if self.region is not None else {r.name for r in self.base.regions if r.u is None}
        return Guides(tuple(dataclasses.replace(r, u=u) if r.name in varied else r for r in self.regions))

    @property
    def rows(self) -> int:
        return len(self.variants) * len(self.iterations)

    @property
    def cols(self) -> int:
        return len(self.us)

    def row_labels(self) -> list[str]:
        return [f"{v.label}\n{its} it" for v in self.variants for its in self.iterations]

    def col_labels(self) -> list[str]:
        return [u_label(u, self.region) for u in self.us]

    def runs(self, cells: Sequence[Cell] | None = None) -> list[Run]:
        """The optimisations that produce `cells` (default: all), style by style so style targets are reused."""
        wanted = {id(c) for c in (self.cells if cells is None else cells)}
        runs: list[Run] = []
        for v in self.variants:
            for u in self.us:
                cs = [c for c in self.cells if c.variant is v and c.u == u and id(c) in wanted]
                if cs:
                    runs.append(Run(v, u, cs))
        return runs

    def inputs_digest(self, variant: Variant) -> str:
        return hashlib.sha1(f"{self.digests[str(self.content)]}:{self.digests[str(variant.style)]}".encode()).hexdigest()


def plan_sweep(
    content: str | os.PathLike,
    styles: Sequence[str | os.PathLike],
    folder: str | os.PathLike,
    look: Look | None = None,
    *,
    us: Sequence[float] | None = None,
    iterations: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    region: str | None = None,
) -> SweepPlan:
    """Check every input and every cell's look, and lay out the grid; reads the images, writes nothing.

    `region`: the u axis is that region's u (the look's own u and other regions stay as they are)."""
    # Matte paths made absolute: a cell's look file reproduces it from any folder.
    base = rebase_regions((look or Look()).model_copy(), Path.cwd())
    if region is not None and region not in {r.name for r in base.regions}:
        names = ", ".join(f"'{r.name}'" for r in base.regions)
        raise UsageError(f"The look has no region '{region}'; " + (f"its regions are {names}." if names else
                         "it has none (add [[look.regions]] to the look file, or use --matte)."))
    content = Path(content)
    styles = [Path(s) for s in styles]
    folder = Path(folder)
    if not styles:
        raise UsageError("Give at least one style image.")
    if len(set(map(str, styles))) != len(styles):
        raise UsageError("A style image is given twice; each style image is one row of the sweep.")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"Output '{folder}' is a file; -o names a folder for the sweep.")
    us = list(us) if us else [region_u(base, region)]
    its = sorted(set(iterations)) if iterations else [base.iterations]
    if seeds:
        seed_list = list(dict.fromkeys(seeds))
    elif base.seed is not None:
        seed_list = [base.seed]
    else:
        # A resumed sweep keeps the seed it was started with, so its cells still match.
        seed_list = read_manifest(folder).get("axes", {}).get("seeds") or [random.randrange(2**31)]
    n = len(us) * len(its) * len(styles) * len(seed_list)
    if n > MAX_CELLS:
        raise UsageError(f"The sweep has {n} cells, more than the {MAX_CELLS} one sweep takes; split it.")

    content_rgb = load_rgb(content, "content image")
    style_rgbs = [load_rgb(s, "style image") for s in styles]
    digests = {str(p): _file_sha1(p) for p in [content, *styles]}
    hw = fit_size(*content_rgb.shape[:2], base.size)
    # Mattes read now: a missing or misshapen matte is one sentence before anything renders.
    alpha = _alpha(content) if any(r.matte == "alpha" for r in base.regions) else None
    regions, warnings = load_regions(base, content_rgb.shape[:2], content_alpha=alpha)

    variants: list[Variant] = []
    stems: dict[str, int] = {}
    for i, s in enumerate(styles):
        stems[s.stem] = stems.get(s.stem, 0) + 1
        stem = _safe(s.stem) + (f"-{stems[s.stem]}" if stems[s.stem] > 1 else "")
        for seed in seed_list:
            variants.append(Variant(len(variants), s, int(seed), f"{stem}__seed{seed}"))

    fields = base.model_dump()
    fields["style_weights"] = None  # styles are rows here, never a blend
    cells: list[Cell] = []
    for v in variants:
        for r, n_its in enumerate(its):
            for c, u in enumerate(us):
                cell_look = _cell_look(fields, region, u, n_its, v.seed)
                name = f"{v.key}__{_safe(region) + '-' if region else ''}u{u:g}__it{n_its}"
                cells.append(Cell(name, v.index * len(its) + r, c, v, u, n_its, cell_look, region))
    return SweepPlan(content, styles, us, its, [int(s) for s in seed_list], base, folder, variants, cells, hw,
                     content_rgb, style_rgbs, digests, region=region, regions=regions, warnings=warnings)


def _cell_look(fields: dict, region: str | None, u: float, iterations: int, seed: int) -> Look:
    """A cell's look: the base's fields with u (the look's, or `region`'s), iterations and seed set."""
    update: dict = {"iterations": iterations, "seed": seed}
    if region is None:
        update["u"] = u
    else:
        update["regions"] = [{**r, "u": u} if r["name"] == region else r for r in fields["regions"]]
    try:
        return Look(**{**fields, **update})
    except ValidationError as exc:
        what = f"Invalid u of region '{region}':" if region is not None else "Invalid"
        raise UsageError(validation_sentence(exc, what).replace(": regions.", ": ")) from None


def region_u(look: Look, region: str | None) -> float:
    """The u a sweep varies: the look's, or that of its region `region` (the look's u when the region has none)."""
    spec = next((r for r in look.regions if r.name == region), None)
    return look.u if spec is None or spec.u is None else spec.u


def u_label(u: float, region: str | None) -> str:
    """'u 3', or 'fg u 3' when the sweep varies the region fg's u."""
    return f"{region} u {u:g}" if region else f"u {u:g}"


def _alpha(content: Path) -> np.ndarray | None:
    """The content file's alpha, for a region whose matte is 'alpha' (None when it has none)."""
    try:
        return read_matte(content, channel="A")
    except ImpastoError:
        return None


def check_saturation(plan: SweepPlan, device: str = "auto") -> str | None:
    """Measure, once per plan, where u stops changing the picture at the sweep's size for each style image
    (`impasto.lookdev.saturation`: a few forward passes, no renders); sets and returns `plan.warning`, the one
    line to print when some of the sweep's u values lie there."""
    if max(plan.hw) > SATURATES_BELOW or plan.region is not None:
        # Above the size u keeps changing the picture over the whole useful range: nothing to measure; and the
        # measure is of the whole frame at the look's u, which says nothing of a region's u.
        return None
    if plan.saturation is None:
        plan.saturation = [measure(plan.content_rgb, [rgb], plan.base, device=device) for rgb in plan.style_rgbs]
        plan.warning = sweep_warning(plan.saturation, plan.us)
    return plan.warning


def _safe(text: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in text)
    return out.strip("._") or "style"


def _file_sha1(path: Path) -> str:
    """The file's digest; a movie frame (clip.mov@1040) is the movie's digest and the frame number."""
    frame = split_movie_frame(path)
    if frame is not None:
        return f"{file_digest(frame[0], 'sha1', None)}@{frame[1]}"
    return file_digest(path, "sha1", None)


# ---------------------------------------------------------------- memory


def cells_that_fit(plan: SweepPlan, free: int | None) -> int | None:
    """How many cells fit in `free` bytes at once (None when the free memory is unknown)."""
    if free is None:
        return None
    need = estimate_memory(*plan.hw, plan.base.network, plan.base.optimizer)
    return int(free // need)


def choose_workers(plan: SweepPlan, device, requested: int | None, free: int | None) -> int:
    """Cells to run at once: 1 on CPU (torch already uses every core for one cell), up to what fits on a GPU."""
    need = estimate_memory(*plan.hw, plan.base.network, plan.base.optimizer)
    h, w = plan.hw
    if requested is not None and requested < 1:
        raise UsageError(f"--parallel must be 1 or more, not {requested}.")
    if free is not None:
        fit = int(free // need)
        if fit < 1:
            raise UsageError(
                f"One sweep cell at {w}×{h} needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB is free "
                f"on {device.type}, so no cells fit; use a smaller --size."
            )
        shared_fit = max(1, int(free // (need * MEMORY_MARGIN)))
        if requested is not None and requested > 1 and requested > shared_fit:
            raise UsageError(
                f"{requested} cells at once at {w}×{h} need about {requested * need * MEMORY_MARGIN / 2**30:.1f} GiB "
                f"but only {free / 2**30:.1f} GiB is free on {device.type}; {shared_fit} fit at once, so use "
                f"--parallel {shared_fit} or a smaller --size."
            )
    else:
        shared_fit = 1
    if requested is not None:
        return requested
    if device.type != "cuda":
        return 1
    return max(1, min(shared_fit, MAX_AUTO_PARALLEL))


# ---------------------------------------------------------------- running


@dataclass
class SweepReport:
    plan: SweepPlan
    rendered: list[Cell]
    skipped: list[Cell]
    runs: int
    workers: int
    device: str
    weights_origin: str
    seconds: float
    sheet: Path
    index: Path
    layout: SheetLayout  # where each cell sits on the sheet; layout.labelled is False when no font was found
    warning: str | None = None  # u values where more u changes little (SweepPlan.warning)

    @property
    def labelled(self) -> bool:
        return self.layout.labelled


def run_sweep(
    plan: SweepPlan,
    *,
    device: str = "auto",
    workers: int | None = None,
    progress: OnEvent | None = None,
    thumb: int = 256,
) -> SweepReport:
    """Render the cells the folder lacks, then the contact sheet and index.html; returns what was done.

    `progress` gets every event of the sweep (impasto.progress): a `CellEvent` per cell the folder already holds
    (kind "skipped"), as each run starts (kind "start", named for the run's style and u) and per cell it writes
    (kind "done", with the cell); and each run's iterations (`Progress`, its subject the run's style and u)."""
    start = time.perf_counter()
    dev = resolve_device(device)
    n_workers = choose_workers(plan, dev, workers, available_memory(dev))
    # Loads (and checks) the weights before anything is written; the runs reuse this network.
    origin = feature_net(plan.base.network, plan.base.weights, plan.base.pooling, str(dev)).origin
    check_saturation(plan, str(dev))  # measured once per plan: the command may have asked already, to say it first

    folder = plan.folder
    try:
        (folder / CELLS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Could not create the sweep folder '{folder}' ({exc.strerror or exc}).") from None
    manifest = read_manifest(folder)
    manifest.setdefault("cells", {})
    manifest.update(
        impasto_sweep=MANIFEST_VERSION, layout=LAYOUT, content=str(plan.content), styles=[str(s) for s in plan.styles],
        axes={"u": plan.us, "region": plan.region, "iterations": plan.iterations, "seeds": plan.seeds,
              "styles": [str(s) for s in plan.styles]},
        base_look=plan.base.model_dump(mode="json"), size=[plan.hw[1], plan.hw[0]], weights_origin=origin,
    )
    lock = threading.Lock()
    _write_manifest(folder, manifest)

    done_cells = [c for c in plan.cells if _is_done(plan, c, manifest, origin)]
    done_ids = set(map(id, done_cells))
    todo = [c for c in plan.cells if id(c) not in done_ids]
    runs = plan.runs(todo)
    total = len(plan.cells)
    counter = [0]
    for c in done_cells:
        counter[0] += 1
        if progress is not None:
            progress(CellEvent(kind="skipped", done=counter[0], total=total, name=c.name, cell=c,
                               elapsed=time.perf_counter() - start))

    rendered: list[Cell] = []

    def one(run: Run) -> None:
        look = run.cells[0].look.model_copy(update={"iterations": run.iterations})
        vi = plan.styles.index(run.variant.style)
        subject = f"{run.variant.label}, u {run.u:g}"
        hook = (lambda p: progress(dataclasses.replace(p, subject=subject))) if progress is not None else None
        if progress is not None:
            with lock:
                progress(CellEvent(kind="start", done=counter[0], total=total, name=subject,
                                   elapsed=time.perf_counter() - start))
        result = render(plan.content_rgb, plan.style_rgbs[vi], look, device=str(dev), progress=hook,
                        snapshots=[c.iterations for c in run.cells], guides=plan.guides(run.u))
        last = result.history[-1].iteration
        for cell in sorted(run.cells, key=lambda c: c.iterations):
            # A run that stopped early (divergence) hands back its last good image, as a separate run would.
            image = result.snapshots.get(cell.iterations, result.image) if cell.iterations <= last else result.image
            step = result.history[min(cell.iterations, last) - 1]
            _write_cell(plan, cell, image, origin, result.ratio)
            entry = {
                "image": cell.image, "look": cell.look_file, "row": cell.row, "col": cell.col, "u": cell.u,
                "iterations": cell.iterations, "seed": cell.variant.seed, "style": str(cell.variant.style),
                "inputs": plan.inputs_digest(cell.variant), "ratio": result.ratio, "loss": step.loss,
                "content_loss": step.content, "style_loss": step.style, "seconds": step.elapsed,
                "device": result.device,
            }
            with lock:
                manifest["cells"][cell.name] = entry
                _write_manifest(folder, manifest)
                rendered.append(cell)
                counter[0] += 1
                event = CellEvent(kind="done", done=counter[0], total=total, name=cell.name, cell=cell,
                                  seconds=step.elapsed, loss=step.loss, elapsed=time.perf_counter() - start)
            if progress is not None:
                progress(event)

    if n_workers <= 1 or len(runs) <= 1:
        for run in runs:
            one(run)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            # list() re-raises the first failure; cells already written stay, and a rerun resumes after them.
            list(pool.map(lambda r: _on_stream(dev, one, r), runs))


    sheet_cells = [SheetCell(c.row, c.col, c.image, c.look_file, c.lines) for c in plan.cells]
    fixed_u = f", u {plan.base.u:g} outside {plan.region}" if plan.region else ""  # the look's u, held
    title = (f"{plan.content.name}: {plan.hw[1]}×{plan.hw[0]}{fixed_u}, {plan.base.network}, k {plan.base.k:g}"
             f"{' (raw ratio)' if plan.base.raw_ratio else ''}, {plan.base.optimizer}")
    grid = SheetGrid(sheet_cells, plan.rows, plan.cols, plan.row_labels(), plan.col_labels(), title)
    layout = write_contact_sheet(folder / SHEET, folder, grid, thumb=thumb)
    index = write_index(folder / INDEX, grid, sheet=SHEET, manifest=MANIFEST)
    return SweepReport(plan, rendered, done_cells, len(runs), n_workers, str(dev), origin,
                       time.perf_counter() - start, folder / SHEET, index, layout)


def _on_stream(dev, fn, arg) -> None:
    """Each worker thread queues its kernels on its own CUDA stream, so cells overlap on the GPU."""
    if dev.type != "cuda":
        fn(arg)
        return

    stream = torch.cuda.Stream(device=dev)
    with torch.cuda.stream(stream):
        fn(arg)
    stream.synchronize()


def expected_look_file(plan: SweepPlan, cell: Cell, origin: str) -> LookFile:
    """The look file a cell is written with: it reproduces the cell with `impasto stylize --look`."""
    return LookFile(look=cell.look, content=str(plan.content.resolve()), styles=[str(cell.variant.style.resolve())],
                    weights_origin=origin)


def _write_cell(plan: SweepPlan, cell: Cell, image: np.ndarray, origin: str, ratio: float) -> None:
    record = {"look": cell.look.model_dump(), "ratio": ratio, "weights_origin": origin, "content": str(plan.content),
              "styles": [str(cell.variant.style)], "impasto": __version__, "sweep_cell": cell.name}
    write_image(plan.folder / cell.image, image, {"Software": f"impasto {__version__}", "impasto:look": json.dumps(record)})
    save_look(plan.folder / cell.look_file, expected_look_file(plan, cell, origin))


def _is_done(plan: SweepPlan, cell: Cell, manifest: dict, origin: str) -> bool:
    """Written before, from the same input files, with a look file that matches this cell's look."""
    entry = manifest.get("cells", {}).get(cell.name)
    if not entry or entry.get("inputs") != plan.inputs_digest(cell.variant):
        return False
    image, look_path = plan.folder / cell.image, plan.folder / cell.look_file
    if not image.is_file() or not look_path.is_file():
        return False
    try:
        saved = load_look(look_path)
    except UsageError:
        return False
    # Paths in the look file may be written relative to another working folder; the digests decide identity.
    return saved.look == cell.look and saved.weights_origin == origin


def read_manifest(folder: Path) -> dict:
    """A sweep folder's manifest (what is done), or {} when there is none or it is from another version."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("impasto_sweep") == MANIFEST_VERSION else {}


def _write_manifest(folder: Path, manifest: dict) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True), error=UsageError)
