"""Look files (read one, save the current look as one) and the style-image check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from impasto.errors import UsageError
from impasto.io.mattes import is_pattern
from impasto.look import LookFile, RegionSpec, load_look, save_look
from impasto.lookdev.style_image import check_style_image
from impasto.studio.paths import PathRefused, safe_file_name
from impasto.studio.state import Studio, StudioState

router = APIRouter()


class SaveLookBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="where to write the look file, relative to the project folder (.toml)")
    content: str
    styles: list[str] = Field(..., min_length=1, max_length=8)
    look: dict[str, Any] = Field(default_factory=dict)
    weights_origin: str | None = Field(None, max_length=500)
    overwrite: bool = False


@router.get("/api/look")
def read_look(studio: Studio, path: str = Query(..., max_length=1000)) -> dict:
    """A look file of the folder, with its content and styles as folder-relative names."""
    file = studio.inside(path)
    lf = load_look(file)
    content, styles = _look_paths(studio, file, lf)
    look = lf.look.model_copy(update={"regions": [page_region(studio, file.parent, r) for r in lf.look.regions]})
    return {"path": studio.relative(file), "look": look.model_dump(mode="json"), "content": content,
            "styles": styles, "weights_origin": lf.weights_origin}


def _page_path(studio: StudioState, folder: Path, p: str) -> str:
    """A path from a look file (relative to its folder) as the page names it (relative to the project folder);
    as written when it lies outside the folder, so the page shows it and a preview refuses it in one sentence."""
    q = Path(p).expanduser()
    q = q if q.is_absolute() else folder / q
    if is_pattern(q):
        parent = studio.rel_or_none(q.parent)
        return p if parent is None else (f"{parent}/{q.name}" if parent != "." else q.name)
    return studio.rel_or_none(q) or p


def page_region(studio: StudioState, folder: Path, region: RegionSpec) -> RegionSpec:
    """A look file's region with its matte and style paths relative to the project folder (the page's names)."""
    update: dict[str, Any] = {}
    if region.matte != "alpha":
        update["matte"] = _page_path(studio, folder, region.matte)
    if region.styles is not None:
        update["styles"] = [_page_path(studio, folder, s) for s in region.styles]
    return region.model_copy(update=update)


def file_region(folder: Path, region: RegionSpec) -> RegionSpec:
    """A region made by `StudioState.make_look` (absolute paths inside the project) as a look file in `folder`
    writes it: paths relative to the file, as its content and styles are."""
    update: dict[str, Any] = {}
    if region.matte != "alpha":
        update["matte"] = Path(os.path.relpath(region.matte, folder)).as_posix()
    if region.styles is not None:
        update["styles"] = [Path(os.path.relpath(s, folder)).as_posix() for s in region.styles]
    return region.model_copy(update=update)


def _look_paths(studio: StudioState, path: Path, lf: LookFile) -> tuple[str | None, list[str | None]]:
    """A look file's content and styles as folder-relative names (None where outside the folder or gone)."""
    def near(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else path.parent / q

    content = studio.rel_or_none(near(lf.content)) if lf.content else None
    return content, [studio.rel_or_none(near(s)) for s in lf.styles]


@router.post("/api/looks")
def write_look(body: SaveLookBody, studio: Studio) -> dict:
    """Save the current look as a look file (impasto.look.save_look); paths in it are relative to the file."""
    if not body.path.endswith(".toml"):
        raise UsageError(f"A look file name ends in .toml (like hero.look.toml), not '{body.path}'.")
    target = studio.inside(body.path, must_exist=False)
    safe_file_name(target.name, {".toml"})
    if target.exists() and not body.overwrite:
        raise HTTPException(409, f"'{body.path}' already exists; choose another name or overwrite it.")
    if target.exists() and not target.is_file():
        raise PathRefused(f"'{body.path}' is not a file.", 400)
    content = studio.image_inside(body.content)
    styles = [studio.image_inside(s) for s in body.styles]
    look = studio.make_look(body.look)
    if look.regions:
        look = look.model_copy(update={"regions": [file_region(target.parent, r) for r in look.regions]})
    origin = body.weights_origin or studio.queue.origins.get((look.network, look.weights))
    target.parent.mkdir(parents=True, exist_ok=True)
    studio.inside(studio.relative(target.parent), kind="dir")  # the folder made is still inside
    lf = LookFile(look=look, content=os.path.relpath(content, target.parent),
                  styles=[os.path.relpath(s, target.parent) for s in styles], weights_origin=origin)
    save_look(target, lf)
    return {"path": studio.relative(target), "look": look.model_dump(mode="json")}


@router.get("/api/style-check")
def style_check(studio: Studio, path: str = Query(..., max_length=1000),
                final_size: int = Query(2048, ge=32, le=16384), style_scale: float = Query(1.2, gt=0, le=8)) -> dict:
    """`impasto style-image check` for a style image of the folder."""
    file = studio.image_inside(path)
    out = check_style_image(file, final_size=final_size, style_scale=style_scale).as_json()
    out["image"] = studio.relative(file)
    return out
