"""What the project folder holds: images (plates or styles), look files, sweeps, shots and fast models."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter

from impasto.errors import UsageError
from impasto.io.images import header_size
from impasto.look import Look, load_look
from impasto.lookdev.sweep import MANIFEST, SHEET
from impasto.shot.config import load_shot
from impasto.studio.paths import IMAGE_EXTENSIONS
from impasto.studio.state import (
    FAST_MODEL_EXTENSION,
    STUDIO_DEFAULTS,
    Studio,
    StudioState,
)

MAX_SCAN_FILES = 20000
MAX_HEADERS = 2000  # image sizes are read for this many images; the rest are listed without
SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv"}

router = APIRouter()


@dataclass
class _Scan:
    """What a walk of the folder found, before look and shot files are told apart."""

    images: list[dict] = field(default_factory=list)
    tomls: list[Path] = field(default_factory=list)
    fast_models: list[dict] = field(default_factory=list)
    sweep_dirs: list[Path] = field(default_factory=list)
    scanned: int = 0
    truncated: bool = False


@router.get("/api/project")
def project(studio: Studio) -> dict:
    """What the folder holds: images (plates or styles), look files, sweeps and shots."""
    scan = _walk(studio)
    looks, shots, shot_outputs = _looks_and_shots(studio, scan.tomls)
    # Painted frames of a shot are the shot's, not plates or styles.
    images = [im for im in scan.images
              if not any((studio.root / im["path"]).resolve().is_relative_to(o) for o in shot_outputs)]
    sweeps = [_sweep_entry(studio, folder) for folder in scan.sweep_dirs]
    return {"root": studio.root.name, "images": images, "looks": looks, "sweeps": sweeps, "shots": shots,
            "fast_models": scan.fast_models, "truncated": scan.truncated, "device": studio.queue.device,
            "defaults": {**STUDIO_DEFAULTS, "size": Look().size}}


def _walk(studio: StudioState) -> _Scan:
    """The folder's files by kind, hidden and tool folders skipped, at most MAX_SCAN_FILES looked at."""
    scan = _Scan()
    for dirpath, dirnames, filenames in os.walk(studio.root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        if MANIFEST in filenames or SHEET in filenames:
            scan.sweep_dirs.append(here)
            dirnames[:] = []  # a sweep's cells are shown in its contact sheet, not as plates or styles
            continue
        for name in sorted(filenames):
            scan.scanned += 1
            if scan.scanned > MAX_SCAN_FILES:
                scan.truncated = True
                break
            if not name.startswith("."):
                _add_file(studio, scan, here / name)
        if scan.truncated:
            break
    return scan


def _add_file(studio: StudioState, scan: _Scan, path: Path) -> None:
    rel = studio.rel_or_none(path)
    if rel is None:  # a symlink leading outside the folder
        return
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        w, h = header_size(path) if len(scan.images) < MAX_HEADERS else (None, None)
        scan.images.append({"path": rel, "bytes": path.stat().st_size, "width": w, "height": h})
    elif ext == ".toml":
        scan.tomls.append(path)
    elif ext == FAST_MODEL_EXTENSION:
        scan.fast_models.append({"path": rel, "bytes": path.stat().st_size})


def _looks_and_shots(studio: StudioState, tomls: list[Path]) -> tuple[list[dict], list[dict], list[Path]]:
    """The .toml files that are look files, those that are shot files, and the shots' output folders."""
    looks: list[dict] = []
    shots: list[dict] = []
    outputs: list[Path] = []
    for path in tomls:
        rel = studio.relative(path)
        try:
            lf = load_look(path)
            looks.append({"path": rel, "u": lf.look.u, "iterations": lf.look.iterations, "size": lf.look.size})
            continue
        except UsageError:
            pass
        try:
            shot = load_shot(path)
        except UsageError:
            continue
        shots.append({"path": rel, "name": shot.name, "frames": shot.frames, "version": shot.output.version})
        try:
            outputs.append(shot.output_folder().resolve())
        except (OSError, RuntimeError):
            pass
    return looks, shots, outputs


def _sweep_entry(studio: StudioState, folder: Path) -> dict:
    rel = studio.relative(folder)
    return {"path": rel, "sheet": f"{rel}/{SHEET}" if (folder / SHEET).is_file() else None,
            "manifest": (folder / MANIFEST).is_file()}
