"""A shot's frames with their state, and thumbnails of its painted frames and plates."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from impasto.io.frames import read_frame
from impasto.shot.config import Shot, load_shot
from impasto.shot.render import ShotFrames
from impasto.shot.status import shot_status
from impasto.studio.jobs import encode_png
from impasto.studio.pictures import file_key, small
from impasto.studio.state import Studio

router = APIRouter()


@router.get("/api/shot")
def shot(studio: Studio, path: str = Query(..., max_length=1000)) -> dict:
    """A shot's frames (done, stale, failed, not rendered, plate missing) from its manifest."""
    s = load_shot(studio.inside(path))
    st = shot_status(s, flicker=False)
    failed = {int(k): v for k, v in st.failed.items()}
    frames = []
    damaged = {int(k): v for k, v in st.damaged.items()}
    plate_missing = set(st.missing_plates)
    for n in st.frames:
        state = ("failed" if n in failed else "damaged" if n in damaged else "done" if n in st.done
                 else "stale" if n in st.stale else "no-plate" if n in plate_missing else "missing")
        frames.append({"frame": n, "state": state, "error": failed.get(n) or damaged.get(n),
                       "plate_missing": n in plate_missing})
    return {"path": path, "name": st.shot, "version": st.version, "frames": frames,
            "counts": {"done": len(st.done), "stale": len(st.stale), "failed": len(failed), "damaged": len(damaged),
                       "plate_missing": len(plate_missing), "missing": len(st.todo)},
            "per_frame": st.per_frame, "eta": st.eta, "look_file": s.look_file}


@router.get("/api/shot/thumb")
def shot_thumb(studio: Studio, path: str = Query(..., max_length=1000), frame: int = Query(..., ge=0, le=10**8),
               kind: Literal["paint", "plate"] = "paint", max: int = Query(192, ge=16, le=1024)) -> Response:
    """A painted (or plate) frame of the shot as the display-referred thumbnail the renderer sees."""
    s = load_shot(studio.inside(path))
    if frame not in set(s.frame_list()):
        raise HTTPException(404, f"Frame {frame} is not in shot {s.name} ({s.frames}).")
    if kind == "paint" or not s.plate_is_movie:
        file = studio.inside_abs(s.output_path(frame) if kind == "paint" else s.plate_pattern().path(frame))
        key = file_key(file, max, "shot")
    else:
        movie = studio.inside_abs(s.plate_path())
        file, key = None, (str(movie), movie.stat().st_mtime_ns, frame, max, "movie")
    data = studio.thumbs.get_or_make(key, lambda: _thumbnail(s, frame, file, max))
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})


def _thumbnail(s: Shot, frame: int, file, edge: int) -> bytes:
    """The frame `file` (None: frame `frame` of the plate movie) as the renderer displays it, as PNG."""
    with ShotFrames(s) as frames:
        picture = frames.display(read_frame(file) if file is not None else frames.read_plate(frame))
    return encode_png(small(picture.clip(0, 1), edge))
