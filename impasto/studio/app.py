"""The studio's web app: a page to steer a look by eye, over the same core API as the command line.

Everything the page shows comes from impasto's core modules (engine renders, style-image checks, look files,
sweep manifests, shot status); this module only maps HTTP onto them, and checks that every path it is given
stays inside the project folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impasto.errors import ImpastoError, UsageError, validation_sentence
from impasto.look import Look, LookFile, load_look, save_look
from impasto.studio.jobs import FINISHED, PreviewRequest, RenderQueue, encode_png
from impasto.studio.paths import (
    IMAGE_EXTENSIONS,
    UPLOAD_EXTENSIONS,
    PathRefused,
    relative_name,
    resolve_inside,
    safe_file_name,
)

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 64 * 2**20
MAX_UPLOAD_EDGE = 16384  # a small file can still declare a huge picture: checked from the header before decoding
MAX_UPLOAD_PIXELS = 120 * 10**6
MAX_SCAN_FILES = 20000
MAX_HEADERS = 2000  # image sizes are read for this many images; the rest are listed without
SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv"}
STUDIO_DEFAULTS = {"u": 4.0, "iterations": 96, "seed": 0}
FAST_MODEL_EXTENSION = ".pt"  # what `impasto fast train` writes
_CLIENT = r"^[A-Za-z0-9_-]{1,64}$"


# ------------------------------------------------------------------------------------------------ request bodies


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(..., description="plate frame, relative to the project folder")
    styles: list[str] = Field(..., min_length=1, max_length=8, description="style images, relative to the project folder")
    look: dict[str, Any] = Field(default_factory=dict, description="Look fields; size is the final's long edge")
    preview_size: int = Field(256, ge=32, le=2048, description="the preview's long edge in px")
    client: str = Field("default", pattern=_CLIENT, description="one page: its older unfinished previews are cancelled")


class SaveLookBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="where to write the look file, relative to the project folder (.toml)")
    content: str
    styles: list[str] = Field(..., min_length=1, max_length=8)
    look: dict[str, Any] = Field(default_factory=dict)
    weights_origin: str | None = Field(None, max_length=500)
    overwrite: bool = False


# ------------------------------------------------------------------------------------------------ helpers


def _sentence(exc: ValidationError | RequestValidationError) -> str:
    """A validation failure as one sentence naming the field."""
    return validation_sentence(exc, whole="request", missing="is missing",
                               extra="is not a setting the studio knows (check the spelling)")


class _ThumbCache:
    """Encoded thumbnails by (path, size, mtime, edge), bounded by count."""

    def __init__(self, entries: int = 512) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.entries:
                self._items.popitem(last=False)


def _small(rgb, edge: int):
    """`rgb` with its long edge at most `edge` (the engine's resize: antialiased bicubic)."""
    import torch

    from impasto.io.tensors import fit_size, resize, to_array, to_tensor

    h, w = rgb.shape[:2]
    if max(h, w) <= edge:
        return rgb
    return to_array(resize(to_tensor(rgb, torch.device("cpu")), fit_size(h, w, edge)))


# ------------------------------------------------------------------------------------------------ the app


def create_app(root: Path, *, device: str = "auto", max_upload_bytes: int = MAX_UPLOAD_BYTES,
               cache_bytes: int = 256 * 2**20, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The studio app serving the project folder `root` (every path it touches stays inside it).

    `allowed_hosts`: Host header values to answer (the CLI passes the loopback names when it listens only
    locally, so a web page cannot reach the studio through DNS rebinding); None answers any.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"Project folder '{root}' does not exist or is not a folder.")
    queue = RenderQueue(device, cache_bytes=cache_bytes)
    thumbs = _ThumbCache()
    fast = _FastPreviews(queue.device)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        queue.close()

    app = FastAPI(title="impasto studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.state.root = root
    app.state.queue = queue
    app.state.max_upload_bytes = max_upload_bytes

    # -------------------------------------------------------------------------------------- errors
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _sentence(exc), "errors": json.loads(json.dumps(exc.errors(), default=str))},
                            status_code=422)

    @app.exception_handler(PathRefused)
    async def _refused(_: Request, exc: PathRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(UsageError)
    async def _usage(_: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ImpastoError)
    async def _failure(_: Request, exc: ImpastoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=500)

    def inside(rel: str, *, must_exist: bool = True, kind: str = "file") -> Path:
        try:
            return resolve_inside(root, rel, must_exist=must_exist, kind=kind)
        except (OSError, RuntimeError) as exc:  # symlink loops, names too long
            raise PathRefused(f"'{rel}' cannot be resolved ({exc}).") from None

    def inside_abs(path: Path) -> Path:
        """An absolute path a core module produced (a shot's frames): it too must lie inside the folder."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError) as exc:
            raise PathRefused(f"'{path}' cannot be resolved ({exc}).") from None
        if not resolved.is_relative_to(root):
            raise PathRefused(f"'{path.name}' lies outside the project folder.", 403)
        if not resolved.is_file():
            raise PathRefused(f"'{relative_name(root, resolved)}' does not exist in the project folder.", 404)
        return resolved

    def image_inside(rel: str) -> Path:
        path = inside(rel)
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise PathRefused(f"'{rel}' is not an image file ({', '.join(sorted(IMAGE_EXTENSIONS))}).", 400)
        return path

    def rel_or_none(path: Path) -> str | None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        return relative_name(root, resolved) if resolved.is_relative_to(root) and resolved.exists() else None

    def make_look(fields: dict[str, Any]) -> Look:
        """A Look from the page's fields; paths inside it (init image, weights) must lie in the project folder."""
        data = {**STUDIO_DEFAULTS, **fields}
        try:
            look = Look.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", "look", *e["loc"])} for e in exc.errors()]) from None
        updates: dict[str, Any] = {}
        if look.init not in ("content", "noise"):
            updates["init"] = str(inside(look.init))
        if look.weights is not None:
            updates["weights"] = str(inside(look.weights))
        return look.model_copy(update=updates) if updates else look

    # -------------------------------------------------------------------------------------- the page
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -------------------------------------------------------------------------------------- the folder
    @app.get("/api/project")
    def project() -> dict:
        """What the folder holds: images (plates or styles), look files, sweeps and shots."""
        from impasto.shot.config import load_shot
        from impasto.lookdev.sweep import MANIFEST, SHEET

        images: list[dict] = []
        looks: list[dict] = []
        shots: list[dict] = []
        sweeps: list[dict] = []
        tomls: list[Path] = []
        fast_models: list[dict] = []
        sweep_dirs: list[Path] = []
        scanned, truncated = 0, False
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            if MANIFEST in filenames or SHEET in filenames:
                sweep_dirs.append(here)
                dirnames[:] = []  # a sweep's cells are shown in its contact sheet, not as plates or styles
                continue
            for name in sorted(filenames):
                scanned += 1
                if scanned > MAX_SCAN_FILES:
                    truncated = True
                    break
                if name.startswith("."):
                    continue
                path = here / name
                rel = rel_or_none(path)
                if rel is None:  # a symlink leading outside the folder
                    continue
                ext = path.suffix.lower()
                if ext in IMAGE_EXTENSIONS:
                    w, h = _header_size(path) if len(images) < MAX_HEADERS else (None, None)
                    images.append({"path": rel, "bytes": path.stat().st_size, "width": w, "height": h})
                elif ext == ".toml":
                    tomls.append(path)
                elif ext == FAST_MODEL_EXTENSION:
                    fast_models.append({"path": rel, "bytes": path.stat().st_size})
            if truncated:
                break
        shot_outputs: list[Path] = []
        for path in tomls:
            rel = relative_name(root, path)
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
                shot_outputs.append(shot.output_folder().resolve())
            except (OSError, RuntimeError):
                pass
        # Painted frames of a shot are the shot's, not plates or styles.
        images = [im for im in images
                  if not any((root / im["path"]).resolve().is_relative_to(o) for o in shot_outputs)]
        for folder in sweep_dirs:
            rel = relative_name(root, folder)
            sweeps.append({"path": rel, "sheet": f"{rel}/{SHEET}" if (folder / SHEET).is_file() else None,
                           "manifest": (folder / MANIFEST).is_file()})
        return {"root": root.name, "images": images, "looks": looks, "sweeps": sweeps, "shots": shots,
                "fast_models": fast_models,
                "truncated": truncated, "device": queue.device, "defaults": {**STUDIO_DEFAULTS,
                                                                            "size": Look().size}}

    @app.get("/api/image")
    def image(path: str = Query(..., max_length=1000), max: int = Query(1024, ge=16, le=4096)) -> Response:
        """An image of the folder as PNG (what the engine reads), its long edge at most `max`."""
        from impasto.io.images import read_image

        file = image_inside(path)
        st = file.stat()
        key = (str(file), st.st_size, st.st_mtime_ns, max)
        data = thumbs.get(key)
        if data is None:
            data = encode_png(_small(read_image(file), max))
            thumbs.put(key, data)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/file")
    def raw_file(path: str = Query(..., max_length=1000)) -> FileResponse:
        """A PNG or JPEG of the folder as it is on disk (contact sheets, cells)."""
        file = inside(path)
        if file.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise PathRefused(f"'{path}' is not a PNG or JPEG; use /api/image for other images.", 400)
        return FileResponse(file)

    @app.get("/api/style-check")
    def style_check(path: str = Query(..., max_length=1000), final_size: int = Query(2048, ge=32, le=16384),
                    style_scale: float = Query(1.2, gt=0, le=8)) -> dict:
        """`impasto style-image check` for a style image of the folder."""
        from impasto.lookdev.style_image import check_style_image

        file = image_inside(path)
        report = check_style_image(file, final_size=final_size, style_scale=style_scale)
        out = report.as_json()
        out["image"] = relative_name(root, file)
        return out

    # -------------------------------------------------------------------------------------- fast previews
    def fast_model_inside(rel: str) -> Path:
        path = inside(rel)
        if path.suffix.lower() != FAST_MODEL_EXTENSION:
            raise PathRefused(f"'{rel}' is not a fast model (a .pt file made by impasto fast train).", 400)
        return path

    @app.get("/api/fast-model")
    def fast_model(look: str | None = Query(None, max_length=1000), model: str | None = Query(None, max_length=1000)) -> dict:
        """A fast model's trained u range and size: the one named, or the one trained for a look file (else null)."""
        from impasto.fast.hooks import model_for_look

        if (look is None) == (model is None):
            raise HTTPException(400, "Give either look (a look file) or model (a fast model file), not both or neither.")
        if model is not None:
            path = fast_model_inside(model)
        else:
            found = model_for_look(inside(look))
            path = None if found is None else inside_abs(found)
            if path is None:
                return {"model": None, "look": look}
        m = fast.previewer.model(path)
        return {"model": relative_name(root, path), "look": look, "u_range": list(m.u_range), "size": m.size,
                "style_id": m.style_id, "preserve_color": m.look.preserve_color}

    @app.get("/api/fast-preview.png")
    def fast_preview(model: str = Query(..., max_length=1000), content: str = Query(..., max_length=1000),
                     u: float = Query(..., allow_inf_nan=False),
                     preview_size: int = Query(256, ge=32, le=2048)) -> Response:
        """The plate painted by a fast model at u (milliseconds once the frame is encoded): the slider's instant image."""
        path = fast_model_inside(model)
        plate = image_inside(content)
        m = fast.previewer.model(path)
        m.check_u([u])
        rgb = fast.previewer.paint(path, fast.plate(plate, preview_size), u, preview_size)
        return Response(encode_png(rgb), media_type="image/png",
                        headers={"Cache-Control": "no-store", "X-Impasto-Source": "fast",
                                 "X-Impasto-U-Range": f"{m.u_range[0]:g},{m.u_range[1]:g}"})

    # -------------------------------------------------------------------------------------- previews
    @app.post("/api/preview")
    def preview(body: PreviewBody) -> dict:
        """Queue a preview render (or answer it from the cache); the page follows it with /events."""
        content = image_inside(body.content)
        styles = [image_inside(s) for s in body.styles]
        look = make_look(body.look)
        if body.look.get("style_weights") is not None and len(look.style_weights or []) != len(styles):
            raise UsageError(f"style_weights has {len(look.style_weights or [])} values for {len(styles)} style images.")
        job = queue.submit(PreviewRequest(content, styles, look, body.preview_size), group=body.client)
        return job.info()

    def job_or_404(job_id: str):
        job = queue.get(job_id)
        if job is None:
            raise HTTPException(404, f"No preview job '{job_id}' (it finished long ago or never existed).")
        return job

    @app.get("/api/jobs/{job_id}")
    def job_info(job_id: str) -> dict:
        return job_or_404(job_id).info()

    @app.delete("/api/jobs/{job_id}")
    def job_cancel(job_id: str) -> dict:
        job_or_404(job_id)
        return queue.cancel(job_id).info()

    @app.get("/api/jobs/{job_id}/image")
    def job_image(job_id: str) -> Response:
        """The job's newest picture: the finished preview, else its latest snapshot."""
        job = job_or_404(job_id)
        data = job.result.png if job.result is not None else job.snapshot
        if data is None:
            raise HTTPException(404, "This preview has no picture yet.")
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/previews/{key}.png")
    def cached_preview(key: str) -> Response:
        item = queue.cache.get(key)
        if item is None:
            raise HTTPException(404, "That preview is no longer cached; ask for it again.")
        return Response(item.png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-Sent Events: 'progress' per iteration, 'snapshot' as the picture builds up, then the end state."""
        job = job_or_404(job_id)

        async def stream():
            sent_version, sent_snapshot = -1, 0
            while True:
                version = job.version
                if version != sent_version:
                    sent_version = version
                    info = job.info()
                    if job.snapshot_iteration != sent_snapshot and job.result is None:
                        sent_snapshot = job.snapshot_iteration
                        yield f"event: snapshot\ndata: {json.dumps({**info, 'image': f'/api/jobs/{job.id}/image?i={sent_snapshot}'})}\n\n"
                    state = info.get("state", job.state)  # from the same snapshot as the data sent with it
                    kind = state if state in FINISHED else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(info)}\n\n"
                    if state in FINISHED:
                        return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -------------------------------------------------------------------------------------- look files
    def look_paths(path: Path, lf: LookFile) -> tuple[str | None, list[str | None]]:
        """A look file's content and styles as folder-relative names (None where outside the folder or gone)."""
        def near(p: str) -> Path:
            q = Path(p).expanduser()
            return q if q.is_absolute() else path.parent / q

        content = rel_or_none(near(lf.content)) if lf.content else None
        return content, [rel_or_none(near(s)) for s in lf.styles]

    @app.get("/api/look")
    def read_look(path: str = Query(..., max_length=1000)) -> dict:
        """A look file of the folder, with its content and styles as folder-relative names."""
        file = inside(path)
        lf = load_look(file)
        content, styles = look_paths(file, lf)
        return {"path": relative_name(root, file), "look": lf.look.model_dump(mode="json"), "content": content,
                "styles": styles, "weights_origin": lf.weights_origin}

    @app.post("/api/looks")
    def write_look(body: SaveLookBody) -> dict:
        """Save the current look as a look file (impasto.look.save_look); paths in it are relative to the file."""
        if not body.path.endswith(".toml"):
            raise UsageError(f"A look file name ends in .toml (like hero.look.toml), not '{body.path}'.")
        target = inside(body.path, must_exist=False)
        safe_file_name(target.name, {".toml"})
        if target.exists() and not body.overwrite:
            raise HTTPException(409, f"'{body.path}' already exists; choose another name or overwrite it.")
        if target.exists() and not target.is_file():
            raise PathRefused(f"'{body.path}' is not a file.", 400)
        content = image_inside(body.content)
        styles = [image_inside(s) for s in body.styles]
        look = make_look(body.look)
        origin = body.weights_origin or queue.origins.get((look.network, look.weights))
        target.parent.mkdir(parents=True, exist_ok=True)
        inside(relative_name(root, target.parent), kind="dir")  # the folder made is still inside
        lf = LookFile(look=look, content=os.path.relpath(content, target.parent),
                      styles=[os.path.relpath(s, target.parent) for s in styles], weights_origin=origin)
        save_look(target, lf)
        return {"path": relative_name(root, target), "look": look.model_dump(mode="json")}

    # -------------------------------------------------------------------------------------- sweeps
    @app.get("/api/sweep")
    def sweep(path: str = Query(..., max_length=1000)) -> dict:
        """A sweep folder's grid (from its manifest), for the contact sheet view."""
        from impasto.lookdev.sweep import MANIFEST, SHEET, _manifest

        folder = inside(path, kind="dir")
        manifest = _manifest(folder)
        cells = []
        for name, entry in sorted(manifest.get("cells", {}).items(), key=lambda kv: (kv[1].get("row", 0), kv[1].get("col", 0))):
            image = rel_or_none(folder / str(entry.get("image", "")))
            look = rel_or_none(folder / str(entry.get("look", "")))
            if image is None:
                continue
            cells.append({"name": name, "row": entry.get("row"), "col": entry.get("col"), "u": entry.get("u"),
                          "iterations": entry.get("iterations"), "seed": entry.get("seed"),
                          "style": Path(str(entry.get("style", ""))).name, "image": image, "look": look,
                          "seconds": entry.get("seconds")})
        return {"path": relative_name(root, folder), "axes": manifest.get("axes", {}), "size": manifest.get("size"),
                "layout": manifest.get("layout"), "cells": cells,
                "sheet": f"{relative_name(root, folder)}/{SHEET}" if (folder / SHEET).is_file() else None,
                "manifest": (folder / MANIFEST).is_file()}

    # -------------------------------------------------------------------------------------- shots
    def shot_inside(path: str):
        from impasto.shot.config import load_shot

        file = inside(path)
        return load_shot(file)

    @app.get("/api/shot")
    def shot(path: str = Query(..., max_length=1000)) -> dict:
        """A shot's frames (done, stale, failed, not rendered, plate missing) from its manifest."""
        from impasto.shot.render import shot_status

        s = shot_inside(path)
        st = shot_status(s, flicker=False)
        failed = {int(k): v for k, v in st.failed.items()}
        frames = []
        for n in st.frames:
            state = ("failed" if n in failed else "done" if n in st.done else "stale" if n in st.stale
                     else "missing")
            frames.append({"frame": n, "state": state, "error": failed.get(n),
                           "plate_missing": n in st.missing_plates})
        return {"path": path, "name": st.shot, "version": st.version, "frames": frames,
                "counts": {"done": len(st.done), "stale": len(st.stale), "failed": len(failed), "missing": len(st.todo)},
                "per_frame": st.per_frame, "eta": st.eta, "look_file": s.look_file}

    @app.get("/api/shot/thumb")
    def shot_thumb(path: str = Query(..., max_length=1000), frame: int = Query(..., ge=0, le=10**8),
                   kind: Literal["paint", "plate"] = "paint", max: int = Query(192, ge=16, le=1024)) -> Response:
        """A painted (or plate) frame of the shot as the display-referred thumbnail the renderer sees."""
        from impasto.io.frames import read_frame
        from impasto.shot.render import ShotFrames

        s = shot_inside(path)
        if frame not in set(s.frame_list()):
            raise HTTPException(404, f"Frame {frame} is not in shot {s.name} ({s.frames}).")
        if kind == "paint" or not s.plate_is_movie:
            file = inside_abs(s.output_path(frame) if kind == "paint" else s.plate_pattern().path(frame))
            st = file.stat()
            key = (str(file), st.st_size, st.st_mtime_ns, max, "shot")
        else:
            movie = inside_abs(s.plate_path())
            file, key = None, (str(movie), movie.stat().st_mtime_ns, frame, max, "movie")
        data = thumbs.get(key)
        if data is None:
            with ShotFrames(s) as frames:
                picture = frames.display(read_frame(file) if file is not None else frames.read_plate(frame))
            data = encode_png(_small(picture.clip(0, 1), max))
            thumbs.put(key, data)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    # -------------------------------------------------------------------------------------- uploads
    @app.put("/api/upload")
    async def upload(request: Request, name: str = Query(..., max_length=200),
                     folder: str = Query("styles", max_length=200)) -> dict:
        """A new style image (the request body is the file): size-capped, decoded to check it, saved in the folder."""
        safe = safe_file_name(name, UPLOAD_EXTENSIONS)
        target_dir = inside(folder, must_exist=False)
        cap = app.state.max_upload_bytes
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
        final, rgb = await asyncio.to_thread(_store_upload, bytes(data), target_dir, safe)
        inside(relative_name(root, final))  # still inside after the folder was made
        return {"path": relative_name(root, final), "width": rgb.shape[1], "height": rgb.shape[0], "bytes": len(data)}

    return app


class _FastPreviews:
    """The studio's fast-model previewer plus plates already read and shrunk (the slider re-reads nothing)."""

    def __init__(self, device: str, plates: int = 8) -> None:
        from impasto.fast.hooks import FastPreviewer

        self.previewer = FastPreviewer(device=device)
        self._plates: OrderedDict[tuple, Any] = OrderedDict()
        self._count = plates
        self._lock = threading.Lock()

    def plate(self, path: Path, edge: int):
        """The plate as the engine reads it, its long edge at most `edge` (cached by file, mtime and edge)."""
        from impasto.io.tensors import load_rgb

        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, edge)
        with self._lock:
            if key in self._plates:
                self._plates.move_to_end(key)
                return self._plates[key]
        rgb = _small(load_rgb(path, "content image"), edge)
        with self._lock:
            self._plates[key] = rgb
            while len(self._plates) > self._count:
                self._plates.popitem(last=False)
        return rgb


def _header_size(path: Path) -> tuple[int | None, int | None]:
    """(width, height) from an image's header, without reading its pixels; (None, None) if unreadable."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None, None
    try:
        return inp.spec().width, inp.spec().height
    finally:
        inp.close()


def _store_upload(data: bytes, folder: Path, name: str):
    """Write an upload under a hidden temporary name, check it decodes, then link it in without overwriting."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".upload-{secrets.token_hex(6)}{Path(name).suffix.lower()}"
    try:
        tmp.write_bytes(data)
        w, h = _header_size(tmp)
        if w is not None and h is not None and (max(w, h) > MAX_UPLOAD_EDGE or w * h > MAX_UPLOAD_PIXELS):
            raise HTTPException(413, f"The upload is {w}×{h} px; the studio takes at most {MAX_UPLOAD_EDGE} px a side "
                                     f"and {MAX_UPLOAD_PIXELS // 10**6} megapixels.")
        rgb = _decode(tmp)
        stem, ext = Path(name).stem, Path(name).suffix
        for n in range(1000):
            final = folder / (name if n == 0 else f"{stem}-{n}{ext}")
            try:
                os.link(tmp, final)  # fails if the name is taken: never overwrites
                return final, rgb
            except FileExistsError:
                continue
            except OSError:  # no hard links here (FAT, some network shares): claim the name, then rename over it
                try:
                    os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    continue
                os.replace(tmp, final)
                return final, rgb
        raise HTTPException(409, f"Too many files named like '{name}' in '{folder.name}'.")
    finally:
        tmp.unlink(missing_ok=True)


def _decode(path: Path):
    """Read every pixel (OpenImageIO): the upload is an image, or a 415."""
    from impasto.io.images import read_image

    try:
        return read_image(path)
    except UsageError as exc:
        raise HTTPException(415, f"The upload is not an image OpenImageIO can decode ({exc}).") from None
