"""Following a background job of the studio (`impasto.studio.jobs.WorkerQueue`) over HTTP: its info, cancelling it,
its Server-Sent Events, and the 404 when it is gone. The preview and the painter routes both serve their jobs with
these (`add_job_routes`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from impasto.studio.jobs import FINISHED, J, WorkerQueue
from impasto.studio.state import Studio, StudioState

Extra = Callable[[J, dict], Iterable[tuple[str, dict]]]  # (job, its info) -> events sent before its progress event


def job_or_404(queue: WorkerQueue[J], job_id: str, what: str) -> J:
    """The queue's job with this id, else a 404 that names it as a `what` job."""
    job = queue.get(job_id)
    if job is None:
        raise HTTPException(404, f"No {what} job '{job_id}' (it finished long ago or never existed).")
    return job


def add_job_routes(router: APIRouter, path: str, queue: Callable[[StudioState], WorkerQueue[J]], what: str, *,
                   poll_seconds: float, events_doc: str, cancel_doc: str | None = None,
                   extra: Callable[[], Extra] | None = None) -> None:
    """Add the routes of one kind of job to `router`: GET `path`/{job_id} (its info), DELETE `path`/{job_id}
    (cancel it; its info) and GET `path`/{job_id}/events (`event_stream`, with a fresh `extra()` per stream).

    `queue` picks the studio's queue of these jobs; `what` names them in the 404; the docstrings document the
    cancel and events routes."""

    def job_info(job_id: str, studio: Studio) -> dict:
        return job_or_404(queue(studio), job_id, what).info()

    def job_cancel(job_id: str, studio: Studio) -> dict:
        job_or_404(queue(studio), job_id, what)
        return queue(studio).cancel(job_id).info()

    async def job_events(job_id: str, request: Request, studio: Studio) -> StreamingResponse:
        job = job_or_404(queue(studio), job_id, what)
        return event_stream(job, request, poll_seconds, extra() if extra is not None else None)

    job_cancel.__doc__, job_events.__doc__ = cancel_doc, events_doc
    router.get(f"{path}/{{job_id}}")(job_info)
    router.delete(f"{path}/{{job_id}}")(job_cancel)
    router.get(f"{path}/{{job_id}}/events")(job_events)


def event_stream(job: J, request: Request, poll_seconds: float, extra: Extra | None = None) -> StreamingResponse:
    """Server-Sent Events of a job: each time its version changes, the events `extra` adds and then 'progress' with
    the job's info, or its end state ('done', 'failed', 'cancelled') as the last event. The job is looked at every
    `poll_seconds`; the stream stops when the page goes away."""
    return StreamingResponse(_events(job, request, poll_seconds, extra), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def _events(job: J, request: Request, poll_seconds: float, extra: Extra | None) -> AsyncIterator[str]:
    sent = -1
    while True:
        version = job.version
        if version != sent:
            sent = version
            info = job.info()
            for kind, data in extra(job, info) if extra is not None else ():
                yield _event(kind, data)
            state = info["state"]  # from the same snapshot as the data sent with it
            kind = state if state in FINISHED else "progress"
            yield _event(kind, info)
            if state in FINISHED:
                return
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll_seconds)
