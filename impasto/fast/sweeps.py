"""A sweep's paintings as examples to learn a look-development painter from (`impasto fast learn SWEEP`).

A sweep (impasto.lookdev.sweep) paints one frame at many u, for each style and seed, at several iteration counts.
The painter learns from the cells of one style and one seed at the sweep's largest iteration count: the look's
finished paintings across u. Every cell's look file must be the same look but for u (its style fields, network
and style image); the frame and the style image must be the files the sweep painted (their digests are in
`sweep.json`), else the paintings are not of them and are refused in one sentence.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from impasto.errors import UsageError
from impasto.fast.core import STYLE_FIELDS
from impasto.fast.learn import Example, paint_size_pair
from impasto.io.images import read_image
from impasto.io.tensors import load_rgb
from impasto.look import Look, load_look
from impasto.lookdev.sweep import MANIFEST, _file_sha1, read_manifest

U_MATCH = 1e-6


@dataclass
class SweepPaintings:
    """What a painter learns from a sweep: the look, its style images and the chosen cells as examples."""

    folder: Path
    look: Look
    style_paths: list[str]
    style_rgbs: list[np.ndarray]
    examples: list[Example]
    content: str
    iterations: int
    seed: int
    left_out: list[float] = field(default_factory=list)
    swept: list[float] = field(default_factory=list)  # every u of the chosen style, seed and iteration count

    def sources(self) -> dict[str, object]:
        """What the model's record says it learned from."""
        return {"sweep": str(self.folder), "content": self.content, "iterations": self.iterations, "seed": self.seed,
                "left_out": self.left_out, "swept": self.swept, "cells": [e.name for e in self.examples]}


def _style_fields(look: Look) -> dict[str, object]:
    return {k: getattr(look, k) for k in (*STYLE_FIELDS, "weights")}


def sweep_paintings(folder: str | os.PathLike, *, style: str | None = None, seed: int | None = None,
                    leave_out: Sequence[float] = ()) -> SweepPaintings:
    """The cells of a sweep folder to learn from: one style (`style`: its file name or path; needed when the sweep
    holds several), one seed (default the lowest), the largest iteration count, without the u values `leave_out`
    (to judge the painter on them). One sentence for anything that does not fit."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if not (folder / MANIFEST).is_file() or not manifest:
        raise UsageError(f"'{folder}' is not a sweep folder (it has no {MANIFEST} from impasto sweep).")
    if (manifest.get("axes") or {}).get("region"):
        raise UsageError(f"Sweep '{folder}' varies the u of region {manifest['axes']['region']}; a painter learns the "
                         "look's u over whole frames, so sweep the look's u.")
    cells = dict(manifest.get("cells") or {})
    if not cells:
        raise UsageError(f"Sweep '{folder}' has no finished cells yet; run impasto sweep to paint them.")
    styles = sorted({str(c.get("style")) for c in cells.values()})
    if style is not None:
        chosen = [s for s in styles if s == style or Path(s).name == Path(style).name]
        if not chosen:
            raise UsageError(f"Sweep '{folder}' has no style '{style}'; it holds {', '.join(Path(s).name for s in styles)}.")
    elif len(styles) > 1:
        raise UsageError(f"Sweep '{folder}' holds {len(styles)} styles ({', '.join(Path(s).name for s in styles)}); "
                         "choose one with --style.")
    else:
        chosen = styles
    mine = {n: c for n, c in cells.items() if str(c.get("style")) == chosen[0]}
    seeds = sorted({int(c.get("seed", 0)) for c in mine.values()})
    use_seed = seeds[0] if seed is None else int(seed)
    if use_seed not in seeds:
        raise UsageError(f"Sweep '{folder}' has no cells with seed {use_seed}; its seeds are {', '.join(map(str, seeds))}.")
    mine = {n: c for n, c in mine.items() if int(c.get("seed", 0)) == use_seed}
    iterations = max(int(c["iterations"]) for c in mine.values())
    mine = dict(sorted(((n, c) for n, c in mine.items() if int(c["iterations"]) == iterations),
                       key=lambda item: float(item[1]["u"])))
    swept = [float(c["u"]) for c in mine.values()]
    for u in leave_out:
        if not any(abs(u - s) <= U_MATCH for s in swept):
            raise UsageError(f"u {u:g} is not a cell of sweep '{folder}' at {iterations} iterations (its u values: "
                             f"{', '.join(f'{s:g}' for s in swept)}); leave out one of those.")
    kept = {n: c for n, c in mine.items() if not any(abs(float(c["u"]) - u) <= U_MATCH for u in leave_out)}
    if not kept:
        raise UsageError(f"Leaving out u {', '.join(f'{u:g}' for u in leave_out)} leaves no cells of sweep '{folder}' to learn from.")
    return _read_cells(folder, kept, iterations, use_seed, sorted(float(u) for u in leave_out), swept)


def _read_cells(folder: Path, cells: dict[str, dict], iterations: int, seed: int, left_out: list[float],
                swept: list[float]) -> SweepPaintings:
    first_look: Look | None = None
    content_path, style_paths = "", []
    content_rgb: np.ndarray | None = None
    examples = []
    for name, cell in cells.items():
        look_file = folder / str(cell["look"])
        if not look_file.is_file() or not (folder / str(cell["image"])).is_file():
            raise UsageError(f"Cell {name} of sweep '{folder}' is missing its picture or look file; run impasto sweep to paint it again.")
        lf = load_look(look_file)
        if first_look is None:
            first_look, content_path, style_paths = lf.look, str(lf.content), [str(s) for s in lf.styles]
            _check_inputs(folder, cell, content_path, style_paths)
            content_rgb = load_rgb(content_path, "content image")
        elif _style_fields(lf.look) != _style_fields(first_look) or [str(s) for s in lf.styles] != style_paths:
            raise UsageError(f"Cell {name} of sweep '{folder}' was painted with another look than the others (style "
                             "settings, network or style image differ); a painter learns one look.")
        painting = read_image(folder / str(cell["image"]))
        assert content_rgb is not None
        c, p = paint_size_pair(content_rgb, painting)
        examples.append(Example(c, p, float(cell["u"]), name))
    assert first_look is not None
    styles = [load_rgb(s, "style image") for s in style_paths]
    return SweepPaintings(folder, first_look, style_paths, styles, examples, content_path, iterations, seed, left_out, swept)


def _check_inputs(folder: Path, cell: dict, content: str, styles: list[str]) -> None:
    """The frame and style image on disk now are the ones the sweep painted (`inputs` in sweep.json)."""
    missing = [p for p in [content, *styles] if not Path(str(p).split("@")[0]).exists()]
    if missing:
        raise UsageError(f"'{missing[0]}', which sweep '{folder}' painted from, is not there any more.")
    now = hashlib.sha1(f"{_file_sha1(Path(content))}:{_file_sha1(Path(styles[0]))}".encode()).hexdigest()
    if cell.get("inputs") not in (None, now):
        raise UsageError(f"The frame or style image sweep '{folder}' painted from has changed since ('{Path(content).name}', "
                         f"'{Path(styles[0]).name}'); sweep again before learning from it.")


__all__ = ["SweepPaintings", "sweep_paintings"]
