"""A look's regions (issue 17): add one from the page, and its mattes as a coloured overlay on the plate picture.

The overlay shows each region's matte as the engine will use it for this plate (fitted to the plate's size,
inverted if asked and feathered: `impasto.objective.regions.region_matte`), in its own colour, semi-transparent,
later regions over earlier ones as the engine's overlap rule has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impasto.errors import UsageError, validation_sentence
from impasto.io.images import header_size
from impasto.io.mattes import is_pattern, matte_path, read_matte
from impasto.look import Look, RegionSpec, load_look, save_look
from impasto.objective.regions import region_matte
from impasto.studio.jobs import encode_png
from impasto.studio.pictures import file_key
from impasto.studio.routes.looks import file_region, read_look
from impasto.studio.state import Studio, StudioState, plate_frame

# One colour per region, in order (RGB 0-1); the page shows the same ones beside each region's slider.
COLOURS = ((1.0, 0.45, 0.1), (0.1, 0.8, 1.0), (0.95, 0.2, 0.85), (0.3, 0.95, 0.3), (1.0, 0.9, 0.1), (0.55, 0.4, 1.0))
OPACITY = 0.55  # the overlay's opacity where a matte is 1

router = APIRouter()


class RegionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    look: str = Field(..., max_length=1000, description="the look file the region is saved into")
    name: str = Field("", max_length=64, description="the region's name (default region1, region2, ...)")
    matte: str = Field(..., min_length=1, max_length=1000, description="a matte image of the folder, or 'alpha'")
    channel: str | None = Field(None, max_length=64)
    u: float | None = Field(None, allow_inf_nan=False)
    feather: float = Field(0.0, ge=0, le=4096, allow_inf_nan=False)
    invert: bool = False
    styles: list[str] | None = Field(None, max_length=8, description="the region's own style images, if any")


@router.post("/api/look/region")
def add_region(body: RegionBody, studio: Studio) -> dict:
    """Add a region to a look file (matte and styles relative to the look file, as its other paths are)."""
    file = studio.inside(body.look)
    lf = load_look(file)
    fields: dict[str, Any] = body.model_dump(exclude={"look"}, exclude_none=True)
    if fields.get("styles") == []:
        fields.pop("styles")
    try:
        spec = studio.region_inside(RegionSpec.model_validate(fields))
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc, "The region:")) from None
    if spec.matte != "alpha" and not is_pattern(spec.matte):
        read_matte(spec.matte, spec.channel)  # an unreadable matte or unknown channel: one sentence now, not at render
    regions = [*lf.look.regions, file_region(file.parent, spec)]
    try:
        look = Look.model_validate({**lf.look.model_dump(mode="json"), "regions": [r.model_dump(mode="json") for r in regions]})
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc, f"Look file '{body.look}':")) from None
    save_look(file, lf.model_copy(update={"look": look}))
    return read_look(studio, body.look)


@router.get("/api/regions/overlay.png")
def overlay(studio: Studio, look: str = Query(..., max_length=1000), content: str = Query(..., max_length=1000),
            max: int = Query(256, ge=16, le=2048)) -> Response:
    """The look's mattes for the plate `content` as an RGBA picture (long edge at most `max`) to lay over it."""
    file = studio.inside(look)
    plate = studio.image_inside(content)
    lf = load_look(file)
    if not lf.look.regions:
        raise UsageError(f"The look '{look}' has no regions; add one first.")
    key = (*file_key(file), *file_key(plate), max, "overlay")
    data = studio.thumbs.get_or_make(key, lambda: _overlay(studio, lf.look, file.parent, plate, max))
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})


def _overlay(studio: StudioState, look: Look, folder: Path, plate: Path, edge: int) -> bytes:
    """Each region's matte at the plate's size (shrunk to `edge`), coloured, composited later-over-earlier."""
    w, h = header_size(plate)
    if not w or not h:
        raise UsageError(f"The plate '{studio.relative(plate)}' cannot be read.")
    scale = min(1.0, edge / max(w, h))
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    alpha = None
    frames = {i: plate_frame(r, plate) for i, r in enumerate(look.regions) if r.matte != "alpha" and is_pattern(r.matte)}
    if any(r.matte == "alpha" for r in look.regions):
        alpha = read_matte(plate, channel="A")
    rgba = np.zeros((*hw, 4), np.float32)
    for i, spec in enumerate(look.regions):
        if spec.matte != "alpha":  # the look file's matte must lie inside the project too
            studio.inside_abs(matte_path(folder / spec.matte, frames.get(i)))
        m = region_matte(spec, hw, scale=max(hw) / look.size, content_alpha=alpha, frame=frames.get(i),
                         root=folder) * OPACITY
        colour = np.array(COLOURS[i % len(COLOURS)], np.float32)
        rgba[..., :3] = colour * m[..., None] + rgba[..., :3] * (1 - m[..., None])
        rgba[..., 3] = m + rgba[..., 3] * (1 - m)
    # Colours stored un-premultiplied, so the browser lays them over the plate as they are.
    a = rgba[..., 3:4]
    rgba[..., :3] = np.where(a > 1e-6, rgba[..., :3] / np.maximum(a, 1e-6), 0)
    return encode_png(rgba)
