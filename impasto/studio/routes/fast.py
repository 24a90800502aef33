"""Fast models: which one a look has, and the plate painted at u in milliseconds for the slider.

A painter learned from a sweep's paintings (impasto.fast.learn, learned by the studio in the background:
impasto.studio.routes.painters) is a fast model file too; its pictures say so (`learned`, `X-Impasto-Source:
learned`), so the page labels them as the learned painter's rather than the fast model's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from impasto.fast.hooks import model_for_look
from impasto.fast.learn import is_learned
from impasto.io.tensors import load_rgb
from impasto.studio.pictures import file_key, quick_png, small
from impasto.studio.state import Studio, StudioState

router = APIRouter()


@router.get("/api/fast-model")
def fast_model(studio: Studio, look: str | None = Query(None, max_length=1000),
               model: str | None = Query(None, max_length=1000)) -> dict:
    """A fast model's trained u range and size: the one named, or the one trained for a look file (else null)."""
    if (look is None) == (model is None):
        raise HTTPException(400, "Give either look (a look file) or model (a fast model file), not both or neither.")
    if model is not None:
        path = studio.fast_model_inside(model)
    else:
        found = model_for_look(studio.inside(look))
        if found is None:
            return {"model": None, "look": look}
        path = studio.inside_abs(found)
    m = studio.fast.model(path)
    return {"model": studio.relative(path), "look": look, "u_range": list(m.u_range), "size": m.size,
            "style_id": m.style_id, "preserve_color": m.look.preserve_color, "learned": is_learned(m),
            "version": path.stat().st_mtime_ns}  # changes when the file is written again (a painter learned further)


@router.get("/api/fast-preview.png")
def fast_preview(studio: Studio, model: str = Query(..., max_length=1000), content: str = Query(..., max_length=1000),
                 u: float = Query(..., allow_inf_nan=False), preview_size: int = Query(256, ge=32, le=2048)) -> Response:
    """The plate painted by a fast model at u (milliseconds once the frame is encoded): the slider's instant image.
    `X-Impasto-Source` says which kind painted it: `learned` (a painter learned from paintings) or `fast`."""
    path = studio.fast_model_inside(model)
    plate = studio.image_inside(content)
    m = studio.fast.model(path)
    m.check_u([u])
    rgb = studio.fast.paint(path, _plate(studio, plate, preview_size), u, preview_size)
    return Response(quick_png(rgb), media_type="image/png",
                    headers={"Cache-Control": "no-store", "X-Impasto-Source": "learned" if is_learned(m) else "fast",
                             "X-Impasto-U-Range": f"{m.u_range[0]:g},{m.u_range[1]:g}"})


def _plate(studio: StudioState, path: Path, edge: int) -> np.ndarray:
    """The plate as the engine reads it, its long edge at most `edge` (cached by file, mtime and edge)."""
    return studio.plates.get_or_make(file_key(path, edge), lambda: small(load_rgb(path, "content image"), edge))
