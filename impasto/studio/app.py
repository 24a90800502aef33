"""The studio's web app: a page to steer a look by eye, over the same core API as the command line.

Everything the page shows comes from impasto's core modules (engine renders, style-image checks, look files,
sweep manifests, shot status); the routes (`impasto.studio.routes`) only map HTTP onto them, and every path
they are given is checked to stay inside the project folder (`impasto.studio.state`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.middleware.trustedhost import TrustedHostMiddleware

from impasto.errors import ImpastoError, UsageError, validation_sentence
from impasto.fast.learn import LearnSettings
from impasto.studio.paths import PathRefused
from impasto.studio.routes import fast, looks, page, painters, previews, project, regions, shots, sweeps
from impasto.studio.state import StudioState
from impasto.studio.uploads import MAX_UPLOAD_BYTES

ROUTERS = (page.router, project.router, looks.router, regions.router, sweeps.router, shots.router, fast.router,
           painters.router, previews.router)


def create_app(root: Path, *, device: str = "auto", max_upload_bytes: int = MAX_UPLOAD_BYTES,
               cache_bytes: int = 256 * 2**20, allowed_hosts: list[str] | None = None,
               learn: LearnSettings | None = None) -> FastAPI:
    """The studio app serving the project folder `root` (every path it touches stays inside it).

    `allowed_hosts`: Host header values to answer (the CLI passes the loopback names when it listens only
    locally, so a web page cannot reach the studio through DNS rebinding); None answers any. `learn`: how a
    sweep's look-development painter is learned (default `LearnSettings()`; tests pass a few steps).
    """
    studio = StudioState(root, device=device, max_upload_bytes=max_upload_bytes, cache_bytes=cache_bytes, learn=learn)
    app = FastAPI(title="impasto studio", lifespan=_lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.state.studio = studio
    app.state.root, app.state.queue = studio.root, studio.queue  # what the CLI and the tests look at
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(PathRefused, _refused)
    app.add_exception_handler(UsageError, _usage)
    app.add_exception_handler(ImpastoError, _failure)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.studio.painters.close()  # a painter learning stops at its next step, its checkpoint kept
    app.state.studio.queue.close()


# ------------------------------------------------------------------------------------------------ errors


def _sentence(exc: ValidationError | RequestValidationError) -> str:
    """A validation failure as one sentence naming the field."""
    return validation_sentence(exc, whole="request", missing="is missing",
                               extra="is not a setting the studio knows (check the spelling)")


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _sentence(exc), "errors": json.loads(json.dumps(exc.errors(), default=str))},
                        status_code=422)


async def _refused(_: Request, exc: PathRefused) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _usage(_: Request, exc: UsageError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _failure(_: Request, exc: ImpastoError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=500)
