"""The page itself, and the folder's files as the page shows them: images as PNG, files as they are, uploads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from impasto.io.images import read_image
from impasto.studio.jobs import encode_png
from impasto.studio.paths import UPLOAD_EXTENSIONS, PathRefused, safe_file_name
from impasto.studio.pictures import file_key, small
from impasto.studio.state import Studio
from impasto.studio.uploads import store_upload

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/api/image")
def image(studio: Studio, path: str = Query(..., max_length=1000), max: int = Query(1024, ge=16, le=4096)) -> Response:
    """An image of the folder as PNG (what the engine reads), its long edge at most `max`."""
    file = studio.image_inside(path)
    data = studio.thumbs.get_or_make(file_key(file, max), lambda: encode_png(small(read_image(file), max)))
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.get("/api/file")
def raw_file(studio: Studio, path: str = Query(..., max_length=1000)) -> FileResponse:
    """A PNG or JPEG of the folder as it is on disk (contact sheets, cells)."""
    file = studio.inside(path)
    if file.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise PathRefused(f"'{path}' is not a PNG or JPEG; use /api/image for other images.", 400)
    return FileResponse(file)


@router.put("/api/upload")
async def upload(request: Request, studio: Studio, name: str = Query(..., max_length=200),
                 folder: str = Query("styles", max_length=200)) -> dict:
    """A new style image (the request body is the file): size-capped, decoded to check it, saved in the folder."""
    safe = safe_file_name(name, UPLOAD_EXTENSIONS)
    target_dir = studio.inside(folder, must_exist=False)
    cap = studio.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise HTTPException(413, f"The upload is {int(length) / 2**20:.1f} MiB; the studio takes at most {cap / 2**20:.0f} MiB.")
    if target_dir.exists() and not target_dir.is_dir():
        raise PathRefused(f"'{folder}' is not a folder.", 400)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > cap:
            raise HTTPException(413, f"The upload is over {cap / 2**20:.0f} MiB, the most the studio takes.")
    if not data:
        raise HTTPException(400, "The upload is empty.")
    final, rgb = await asyncio.to_thread(store_upload, bytes(data), target_dir, safe)
    studio.inside(studio.relative(final))  # still inside after the folder was made
    return {"path": studio.relative(final), "width": rgb.shape[1], "height": rgb.shape[0], "bytes": len(data)}
