"""Preview renders: queue one (or answer it from the cache), follow it by Server-Sent Events, cancel it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from impasto.errors import UsageError
from impasto.studio.jobs import Job, PreviewRequest, RenderQueue
from impasto.studio.routes.events import add_job_routes, job_or_404
from impasto.studio.state import Studio

_CLIENT = r"^[A-Za-z0-9_-]{1,64}$"
POLL_SECONDS = 0.05  # how often the event stream looks at its job

router = APIRouter()


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(..., description="plate frame, relative to the project folder")
    styles: list[str] = Field(..., min_length=1, max_length=8, description="style images, relative to the project folder")
    look: dict[str, Any] = Field(default_factory=dict, description="Look fields; size is the final's long edge")
    preview_size: int = Field(256, ge=32, le=2048, description="the preview's long edge in px")
    client: str = Field("default", pattern=_CLIENT, description="one page: its older unfinished previews are cancelled")


@router.post("/api/preview")
def preview(body: PreviewBody, studio: Studio) -> dict:
    """Queue a preview render (or answer it from the cache); the page follows it with /events."""
    content = studio.image_inside(body.content)
    styles = [studio.image_inside(s) for s in body.styles]
    look = studio.mattes_for(studio.make_look(body.look), content)
    if body.look.get("style_weights") is not None and len(look.style_weights or []) != len(styles):
        raise UsageError(f"style_weights has {len(look.style_weights or [])} values for {len(styles)} style images.")
    job = studio.queue.submit(PreviewRequest(content, styles, look, body.preview_size), group=body.client)
    return job.info()


def _job_or_404(queue: RenderQueue, job_id: str) -> Job:
    return job_or_404(queue, job_id, "preview")


class _Snapshots:
    """The 'snapshot' events of one preview's stream: one whenever a newer snapshot is in, until the result is."""

    def __init__(self) -> None:
        self.sent = 0  # the iteration of the snapshot last announced

    def __call__(self, job: Job, info: dict) -> list[tuple[str, dict]]:
        if job.snapshot_iteration == self.sent or job.result is not None:
            return []
        self.sent = job.snapshot_iteration
        return [("snapshot", {**info, "image": f"/api/jobs/{job.id}/image?i={self.sent}"})]


add_job_routes(router, "/api/jobs", lambda studio: studio.queue, "preview", poll_seconds=POLL_SECONDS,
               extra=_Snapshots,
               events_doc="Server-Sent Events: 'progress' per iteration, 'snapshot' as the picture builds up, then the "
                          "end state.")


@router.get("/api/jobs/{job_id}/image")
def job_image(job_id: str, studio: Studio) -> Response:
    """The job's newest picture: the finished preview, else its latest snapshot."""
    job = _job_or_404(studio.queue, job_id)
    data = job.result.png if job.result is not None else job.snapshot
    if data is None:
        raise HTTPException(404, "This preview has no picture yet.")
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/api/previews/{key}.png")
def cached_preview(key: str, studio: Studio) -> Response:
    item = studio.queue.cache.get(key)
    if item is None:
        raise HTTPException(404, "That preview is no longer cached; ask for it again.")
    return Response(item.png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
