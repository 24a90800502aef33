"""What the project folder holds: images (plates or styles), look files, sweeps, shots and fast models.

Plates and paintings are told apart by what the folder says, never by file names: an image under a folder named
`plates/` is a plate, one under `styles/` a painting (style image) and one under `mattes/` a matte (a region's);
otherwise a shot file's plate frames are
plates and its look's style images paintings, and a look file's content is a plate, its styles paintings and its
regions' mattes mattes.
Images none of these place are offered as both, and the page picks nothing for the artist.
"""

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


PLATE_FOLDERS = {"plates"}
STYLE_FOLDERS = {"styles"}
MATTE_FOLDERS = {"mattes"}


@dataclass
class _Roles:
    """Images a shot or look file names as plates or paintings: resolved path -> the file that says so."""

    plates: dict[Path, str] = field(default_factory=dict)
    styles: dict[Path, str] = field(default_factory=dict)
    mattes: dict[Path, str] = field(default_factory=dict)


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
    roles = _Roles()
    looks, shots, shot_outputs = _looks_and_shots(studio, scan.tomls, roles)
    # Painted frames of a shot are the shot's, not plates or styles.
    images = [im for im in scan.images
              if not any((studio.root / im["path"]).resolve().is_relative_to(o) for o in shot_outputs)]
    for im in images:
        im["role"], im["why"] = _role(studio, im["path"], roles)
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
            for name in sorted(filenames):  # but its learned painters are fast models like any other
                if name.lower().endswith(FAST_MODEL_EXTENSION) and not name.startswith("."):
                    _add_file(studio, scan, here / name)
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


def _role(studio: StudioState, rel: str, roles: _Roles) -> tuple[str | None, str]:
    """'plate', 'style' or None for one image, and why (see the module docstring)."""
    folders = [part.lower() for part in rel.split("/")[:-1]]
    if any(f in PLATE_FOLDERS for f in folders):
        return "plate", "in a plates/ folder"
    if any(f in STYLE_FOLDERS for f in folders):
        return "style", "in a styles/ folder"
    if any(f in MATTE_FOLDERS for f in folders):
        return "matte", "in a mattes/ folder"
    path = (studio.root / rel).resolve()
    if path in roles.plates:
        return "plate", f"a plate of {roles.plates[path]}"
    if path in roles.styles:
        return "style", f"a style image of {roles.styles[path]}"
    if path in roles.mattes:
        return "matte", f"a matte of {roles.mattes[path]}"
    return None, "not in plates/, styles/ or mattes/ and named by no shot or look file"


def _shot_roles(studio: StudioState, shot, rel: str, roles: _Roles) -> None:
    """The shot's plate frames on disk and its look's style images."""
    try:
        if not shot.plate_is_movie:
            pattern = shot.plate_pattern()
            for frame in pattern.frames_on_disk():
                roles.plates.setdefault(pattern.path(frame).resolve(), rel)
        for style in shot.resolved_look()[1]:
            roles.styles.setdefault(style.resolve(), rel)
    except (UsageError, OSError, RuntimeError):  # a shot whose look or plate is broken says nothing here
        pass


def _look_roles(path: Path, lf, rel: str, roles: _Roles) -> None:
    """The look file's content frame and style images (relative to the look file)."""
    def near(p: str) -> Path:
        q = Path(p).expanduser()
        return (q if q.is_absolute() else path.parent / q).resolve()

    try:
        if lf.content:
            roles.plates.setdefault(near(lf.content), rel)
        for s in lf.styles:
            roles.styles.setdefault(near(s), rel)
        for r in lf.look.regions:
            if r.matte != "alpha":
                roles.mattes.setdefault(near(r.matte), rel)
            for s in r.styles or []:
                roles.styles.setdefault(near(s), rel)
    except (OSError, RuntimeError):
        pass


def _looks_and_shots(studio: StudioState, tomls: list[Path], roles: _Roles) -> tuple[list[dict], list[dict], list[Path]]:
    """The .toml files that are look files, those that are shot files, and the shots' output folders; `roles`
    gets the images they name."""
    looks: list[dict] = []
    shots: list[dict] = []
    outputs: list[Path] = []
    for path in tomls:
        rel = studio.relative(path)
        try:
            lf = load_look(path)
            looks.append({"path": rel, "u": lf.look.u, "iterations": lf.look.iterations, "size": lf.look.size})
            _look_roles(path, lf, rel, roles)
            continue
        except UsageError:
            pass
        try:
            shot = load_shot(path)
        except UsageError:
            continue
        shots.append({"path": rel, "name": shot.name, "frames": shot.frames, "version": shot.output.version})
        _shot_roles(studio, shot, rel, roles)
        try:
            outputs.append(shot.output_folder().resolve())
        except (OSError, RuntimeError):
            pass
    return looks, shots, outputs


def _sweep_entry(studio: StudioState, folder: Path) -> dict:
    rel = studio.relative(folder)
    return {"path": rel, "sheet": f"{rel}/{SHEET}" if (folder / SHEET).is_file() else None,
            "manifest": (folder / MANIFEST).is_file()}
