"""`fast compare`: the fast model against the optimisation engine, frame by frame and u by u, on the engine's loss."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from impasto.api import render
from impasto.devices import resolve_device
from impasto.fast.core import FastModel
from impasto.fast.loss import GatysLoss, score, style_by_layer, style_distance
from impasto.io.images import write_image
from impasto.io.tensors import fit_size, resize, to_array, to_tensor
from impasto.lookdev.contact_sheet import SheetCell, SheetGrid, write_contact_sheet
from impasto.progress import CellEvent, OnEvent


@dataclass
class CompareRow:
    frame: str
    u: float
    fast: dict[str, float]  # content, style, tv, total (style already × ratio), ratio
    optimised: dict[str, float]
    fast_seconds: float
    optimised_seconds: float
    optimised_history: list[float] = field(default_factory=list)  # the optimisation's loss after each iteration
    style_layers: dict[str, float] = field(default_factory=dict)  # fast ÷ optimised style loss, layer by layer
    style_distance: float = float("nan")  # Gram style distance between the fast picture and the optimised one
    seen: bool = False  # the model learned from this frame at this u (a learned painter's record says so)

    def matching_iteration(self) -> int | None:
        """The optimisation iteration that first does as well as the fast picture (None: none in its run), i.e.
        how many iterations of the engine the fast model is worth."""
        # The render's own loss and the compare score differ in scale only; compare them as ratios to the end.
        level = (self.optimised_history or [0.0])[-1] * self.relative("total")
        return next((i + 1 for i, v in enumerate(self.optimised_history) if v <= level), None)

    def relative(self, term: str) -> float:
        """The fast model's loss term over the optimisation's (1.0 = as good; above = worse)."""
        ref = self.optimised[term]
        return self.fast[term] / ref if ref > 0 else float("inf")


@dataclass
class CompareReport:
    rows: list[CompareRow]
    size: int
    iterations: int
    images: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # (frame index, u) -> (fast, opt)
    frames: list[str] = field(default_factory=list)

    def worst_total(self) -> float:
        return max((r.relative("total") for r in self.rows), default=float("nan"))


def compare(
    model: FastModel,
    frames: Sequence[tuple[str, np.ndarray]],
    us: Sequence[float],
    style_rgbs: Sequence[np.ndarray],
    *,
    size: int | None = None,
    iterations: int = 256,
    device: str = "auto",
    seed: int = 0,
    progress: OnEvent | None = None,
) -> CompareReport:
    """Paint each frame at each u with the fast model and with `impasto.api.render` (same look, same size),
    and score both with the engine's loss at that u. `progress` gets a `CellEvent` as each optimised render
    starts and ends (its name: the frame's and the u)."""
    model.check_u(us)
    edge = int(size or model.size)
    dev = resolve_device(device)
    rows: list[CompareRow] = []
    images: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
    total = len(frames) * len(us)
    done, began = 0, time.perf_counter()
    for fi, (name, rgb) in enumerate(frames):
        # The content as both methods see it: resized once to the paint size.
        content = to_array(resize(to_tensor(rgb, torch.device("cpu")), fit_size(*rgb.shape[:2], edge)))
        loss = GatysLoss(model.look, style_rgbs, edge, dev, match_to=content)
        start = time.perf_counter()
        fast_images = model.paint(content, us, size=edge, device=str(dev))
        fast_seconds = (time.perf_counter() - start) / max(1, len(us))
        for u, fast in zip(us, fast_images):
            cell, t0 = f"{name} u {u:g}", time.perf_counter()
            if progress is not None:
                progress(CellEvent(kind="start", done=done, total=total, name=cell, elapsed=t0 - began))
            look = model.look.model_copy(update={"u": float(u), "size": edge, "iterations": iterations, "seed": seed})
            result = render(content, list(style_rgbs), look, device=str(dev))
            # Layer by layer, to show where a fast model falls short (fine texture or large forms).
            fast_l, opt_l = style_by_layer(loss, fast), style_by_layer(loss, result.image)
            layers = {k: fast_l[k] / opt_l[k] if opt_l[k] > 0 else float("inf") for k in fast_l}
            rows.append(CompareRow(name, float(u), score(loss, fast, content, u), score(loss, result.image, content, u),
                                   fast_seconds, result.seconds, [p.loss for p in result.history], layers,
                                   style_distance(loss, fast, result.image), seen_in_training(model, name, u)))
            images[(fi, float(u))] = (fast, result.image)
            done += 1
            if progress is not None:
                now = time.perf_counter()
                progress(CellEvent(kind="done", done=done, total=total, name=cell, seconds=now - t0, elapsed=now - began,
                                   loss=result.history[-1].loss if result.history else None))
    return CompareReport(rows, edge, iterations, images, [n for n, _ in frames])


def seen_in_training(model: FastModel, frame: str, u: float) -> bool:
    """True when `model` learned from a painting of `frame` (a file name) at `u`: a painter learned from a sweep
    records its content and cells' u, one learned from a shot its keyframes. A model trained on the Gatys loss
    saw no paintings (False)."""
    record = model.record
    if record.get("kind") != "learned":
        return False
    us = [float(e.get("u", float("nan"))) for e in record.get("examples", [])]
    if not any(abs(v - u) <= 1e-6 for v in us):
        return False
    content = str(record.get("content") or "")
    if content:
        return Path(content.split("@")[0]).name == Path(frame.split("@")[0]).name and (
            "@" not in content or content.split("@")[-1] == frame.split("@")[-1])
    return any(str(e.get("name", "")).endswith(f"@{frame}") for e in record.get("examples", []))


def write_compare_sheet(report: CompareReport, path: str | os.PathLike, *, thumb: int = 256) -> Path:
    """A contact sheet: one row per frame, for each u the fast picture then the optimised one, losses under each."""
    us = sorted({r.u for r in report.rows})
    by_key = {(report.frames.index(r.frame), r.u): r for r in report.rows}
    with tempfile.TemporaryDirectory(prefix="impasto-fast-compare-") as tmp:
        cells = []
        for (fi, u), (fast, opt) in report.images.items():
            row = by_key[(fi, u)]
            col = 2 * us.index(u)
            for k, (img, which) in enumerate(((fast, "fast"), (opt, "optimised"))):
                name = f"{fi}_{col + k}.png"
                write_image(Path(tmp) / name, img)
                terms = row.fast if which == "fast" else row.optimised
                lines = [f"total {terms['total']:.3g}", f"style {terms['style']:.3g} content {terms['content']:.3g}"]
                if which == "fast":
                    n = row.matching_iteration()
                    lines.append(f"x{row.relative('total'):.2f} of optimised, "
                                 + (f"= {n} its" if n is not None else f"> {report.iterations} its"))
                else:
                    lines.append(f"{row.optimised_seconds:.1f} s vs {row.fast_seconds * 1000:.0f} ms")
                cells.append(SheetCell(fi, col + k, name, None, lines))
        col_labels = [f"u {u:g} {which}" for u in us for which in ("fast", "optimised")]
        title = f"fast model vs {report.iterations}-iteration optimisation at {report.size} px (engine loss)"
        grid = SheetGrid(cells, len(report.frames), 2 * len(us), list(report.frames), col_labels, title)
        write_contact_sheet(path, tmp, grid, thumb=thumb)
    return Path(path)


def write_sweep_sheet(images: Sequence[np.ndarray], us: Sequence[float], path: str | os.PathLike, title: str,
                      *, thumb: int = 256) -> Path:
    """One row of painted pictures, u across the top."""
    with tempfile.TemporaryDirectory(prefix="impasto-fast-sweep-") as tmp:
        cells = []
        for i, img in enumerate(images):
            write_image(Path(tmp) / f"{i}.png", img)
            cells.append(SheetCell(0, i, f"{i}.png", None, [f"u {us[i]:g}"]))
        grid = SheetGrid(cells, 1, len(images), [""], [f"u {u:g}" for u in us], title)
        write_contact_sheet(path, tmp, grid, thumb=thumb)
    return Path(path)
