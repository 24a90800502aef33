"""A sweep's look-development painter: where it stands, learn it in the background, follow it, cancel it.

The painter itself is an ordinary fast model file: once learned, `/api/fast-model` and `/api/fast-preview.png`
(impasto.studio.routes.fast) serve it to the u slider, which labels its pictures as the learned painter's.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from impasto.errors import ImpastoError
from impasto.fast.learn import is_learned
from impasto.fast.train import checkpoint_path
from impasto.studio.painters import MAX_STEPS, painter_file, sweep_styles
from impasto.studio.routes.events import add_job_routes
from impasto.studio.state import Studio

POLL_SECONDS = 0.1  # how often the event stream looks at its job

router = APIRouter()


class PainterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep: str = Field(..., max_length=1000, description="sweep folder, relative to the project folder")
    style: str | None = Field(None, max_length=1000, description="the sweep's style image to learn (its file name), "
                                                                   "when it holds several")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="learning steps (default: the studio's)")
    fresh: bool = Field(False, description="start over instead of resuming from the checkpoint")


@router.get("/api/painter")
def painter(studio: Studio, sweep: str = Query(..., max_length=1000),
            style: str | None = Query(None, max_length=1000)) -> dict:
    """A sweep's painter: its file, whether it is learned (and its u range), its checkpoint, its newest job."""
    folder = studio.inside(sweep, kind="dir")
    output = painter_file(folder, style)
    out: dict = {"sweep": studio.relative(folder), "styles": [s.rsplit("/", 1)[-1] for s in sweep_styles(folder)],
                 "style": style, "model": studio.relative(output),
                 "ready": False, "u_range": None, "steps": None, "learned": False,
                 "checkpoint": checkpoint_path(output).is_file()}
    if output.is_file():
        try:
            m = studio.fast.model(studio.inside_abs(output))
            out.update(ready=True, u_range=list(m.u_range), steps=m.record.get("steps"), learned=is_learned(m))
        except ImpastoError as exc:  # a damaged file: say so, as a painter that is not ready
            out["error"] = str(exc)
    job = studio.painters.latest(output)
    out["job"] = job.info() if job is not None else None
    return out


@router.post("/api/painter")
def start(body: PainterBody, studio: Studio) -> dict:
    """Learn a sweep's painter in the background (or answer the job already learning it); resumes its checkpoint."""
    folder = studio.inside(body.sweep, kind="dir")
    return studio.painters.start(folder, style=body.style, steps=body.steps, fresh=body.fresh).info()


add_job_routes(router, "/api/painter/jobs", lambda studio: studio.painters, "painter", poll_seconds=POLL_SECONDS,
               cancel_doc="Stop learning at the next step; the checkpoint keeps what was learned, so the next start "
                          "resumes.",
               events_doc="Server-Sent Events: 'progress' as steps go by (step, steps, loss, eta), then the end state.")
