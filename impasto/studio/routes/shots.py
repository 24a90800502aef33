"""A shot's frames with their state, thumbnails of its painted frames and plates, its boil (set from the page)
and the E_warp flicker of each rendered version."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from impasto.io.frames import read_frame
from impasto.shot.config import Shot, load_shot, save_shot
from impasto.shot.manifest import read_manifest
from impasto.shot.source import PlateSource
from impasto.shot.status import ewarp_for_range, manifest_versions, shot_status
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
            "per_frame": st.per_frame, "eta": st.eta, "look_file": s.look_file,
            "temporal": s.temporal.model_dump(mode="json"), "versions": _versions(s),
            "boil_note": _boil_note(s, path, len(st.stale))}


def _versions(s: Shot) -> list[int]:
    """The versions with a manifest, and the current one."""
    return sorted(set(manifest_versions(s)) | {s.output.version})


def _boil_note(s: Shot, path: str, stale: int) -> str | None:
    """What the CLI would say when the shot's look (its boil among it) differs from the frames already painted."""
    if not stale:
        return None
    name = Path(path).name
    return (f"Version {s.output.version} holds {stale} {'frame' if stale == 1 else 'frames'} painted with another look "
            f"(another boil is another look); run 'impasto shot version-up {name}' to paint boil "
            f"{s.temporal.boil:g} as version {s.output.version + 1}, or 'impasto render {name} --force' to re-render "
            f"version {s.output.version} in place.")


class BoilBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., max_length=1000, description="the shot file, relative to the project folder")
    boil: float = Field(..., ge=0, le=1, allow_inf_nan=False,
                        description="temporal.boil: 0 paints every frame on its own, 1 as steady as the motion allows")


@router.post("/api/shot/boil")
def set_boil(body: BoilBody, studio: Studio) -> dict:
    """Write the shot file's [temporal] boil (through load_shot / save_shot), and say whether a version-up is due."""
    file = studio.inside(body.path)
    s = load_shot(file)
    s.temporal = s.temporal.model_copy(update={"boil": body.boil})
    save_shot(file, s)
    s = load_shot(file)
    stale = len(shot_status(s, flicker=False).stale)
    return {"path": body.path, "temporal": s.temporal.model_dump(mode="json"),
            "boil_note": _boil_note(s, body.path, stale)}


@router.get("/api/shot/ewarp")
def shot_ewarp(studio: Studio, path: str = Query(..., max_length=1000),
               version: int | None = Query(None, ge=1, le=999)) -> dict:
    """E_warp (painted, plate, excess, worst pairs) over a version's rendered frames (default: the current
    version), remembered per shot file and settings, version and manifest modification time."""
    file = studio.inside(path)
    s = load_shot(file)
    v = s.output.version if version is None else version
    manifest = s.manifest_path(v)
    if not manifest.is_file():
        return {"version": v, "pairs": 0, "painted": None, "plate": None, "excess": None, "worst": [],
                "frames": [], "note": f"Version {v} of {s.name} has not been rendered yet."}
    # The shot's settings but its boil (saving a boil measures nothing new), the version and its manifest's time.
    settings = s.model_dump_json(exclude={"temporal"})
    key = (str(file), settings, v, manifest.stat().st_mtime_ns, "ewarp")
    return studio.ewarps.get_or_make(key, lambda: _ewarp(s, v))


def _ewarp(s: Shot, version: int) -> dict:
    """E_warp over the version's rendered range (its done frames on disk)."""
    done = sorted(n for n, e in read_manifest(s.manifest_path(version)).done().items()
                  if s.output_path(n, version).is_file())
    if len(done) < 2:
        return {"version": version, "pairs": 0, "painted": None, "plate": None, "excess": None, "worst": [],
                "frames": done, "note": f"Version {version} has fewer than two painted frames to compare."}
    out = ewarp_for_range(s, version, done)
    out["frames"] = done
    out["note"] = None if out["pairs"] else "No two consecutive painted frames could be compared."
    return out


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
    with PlateSource(s) as frames:
        picture = frames.display(read_frame(file) if file is not None else frames.read_plate(frame))
    return encode_png(small(picture.clip(0, 1), edge))
