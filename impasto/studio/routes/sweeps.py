"""A sweep folder's grid of cells, for the contact sheet view."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query

from impasto.lookdev.sweep import MANIFEST, SHEET, read_manifest
from impasto.studio.state import Studio, StudioState

router = APIRouter()


@router.get("/api/sweep")
def sweep(studio: Studio, path: str = Query(..., max_length=1000)) -> dict:
    """A sweep folder's grid (from its manifest), for the contact sheet view."""
    folder = studio.inside(path, kind="dir")
    manifest = read_manifest(folder)
    entries = sorted(manifest.get("cells", {}).items(), key=lambda kv: (kv[1].get("row", 0), kv[1].get("col", 0)))
    cells = [c for c in (_cell(studio, folder, name, entry) for name, entry in entries) if c is not None]
    rel = studio.relative(folder)
    return {"path": rel, "axes": manifest.get("axes", {}), "size": manifest.get("size"),
            "layout": manifest.get("layout"), "cells": cells,
            "sheet": f"{rel}/{SHEET}" if (folder / SHEET).is_file() else None,
            "manifest": (folder / MANIFEST).is_file()}


def _cell(studio: StudioState, folder: Path, name: str, entry: dict) -> dict | None:
    """One cell as the page shows it; None when its image is gone or lies outside the folder."""
    image = studio.rel_or_none(folder / str(entry.get("image", "")))
    if image is None:
        return None
    return {"name": name, "row": entry.get("row"), "col": entry.get("col"), "u": entry.get("u"),
            "iterations": entry.get("iterations"), "seed": entry.get("seed"),
            "style": Path(str(entry.get("style", ""))).name, "image": image,
            "look": studio.rel_or_none(folder / str(entry.get("look", ""))), "seconds": entry.get("seconds")}
