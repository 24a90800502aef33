"""Preview renders for the studio: one background worker per device, a queue, cancellation and a cache.

A preview is an ordinary `impasto.api.render` at a small long edge with the look's u: the engine scales the
style ratio by size, so u means the same in the preview as in the final. Each finished preview is cached under
a hash of everything that decides its pixels (the render look with its seed, the input files' contents, the
device, the versions), so asking again for a look already seen is answered without rendering: from memory, or
from the project folder's `.impasto/previews/` after a restart (`impasto.studio.cache`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from impasto.api import Progress, blend_weights, render
from impasto.devices import resolve_device
from impasto.errors import ImpastoError
from impasto.files import file_digest
from impasto.io.images import write_image
from impasto.io.mattes import is_pattern
from impasto.io.tensors import load_rgb
from impasto.look import Look
from impasto.lookdev.preview import style_fraction
from impasto.lookdev.saturation import Saturation, measure, preview_warning
from impasto.studio.cache import Preview, PreviewCache
from impasto.studio.pictures import SharedLRU, file_key
from impasto.threads import CpuShare, fixed_threads
from impasto.version import __version__

State = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: tuple[State, ...] = ("done", "failed", "cancelled")
MAX_JOBS_KEPT = 200
DIGESTS_KEPT = 4096  # files whose digest is remembered
SATURATIONS_KEPT = 256  # measured saturations (one per plate, paintings and size; u does not change it)
LARGER = "pick a larger preview size"


class Cancelled(Exception):
    """Raised from the engine's progress callback to stop a render the page no longer wants."""


# ------------------------------------------------------------------------------------------------ encoding


_ENCODE_DIR = tempfile.TemporaryDirectory(prefix="impasto-studio-")
_COUNTER = itertools.count()


def encode_png(rgb: np.ndarray) -> bytes:
    """Float H×W×3 RGB in 0-1 as 8-bit PNG bytes (through impasto's image writer)."""
    path = Path(_ENCODE_DIR.name) / f"{os.getpid()}-{threading.get_ident()}-{next(_COUNTER)}.png"
    try:
        write_image(path, rgb)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


class FileDigests:
    """Digests of files' bytes, remembered by (path, size, mtime) so unchanged files are hashed once.

    Only ever part of an in-memory preview key, so the algorithm is impasto.files' default.
    """

    def __init__(self, size: int = DIGESTS_KEPT) -> None:
        self._known: SharedLRU[str] = SharedLRU(size)

    def __call__(self, path: Path) -> str:
        return self._known.get_or_make(file_key(path), lambda: file_digest(path))


def region_files(look: Look) -> list[Path]:
    """The single-file mattes and region style images of a look (their contents decide a preview's pixels too)."""
    files: list[Path] = []
    for r in look.regions:
        if r.matte != "alpha" and not is_pattern(r.matte):
            files.append(Path(r.matte))
        files.extend(Path(s) for s in r.styles or [])
    return files


# ------------------------------------------------------------------------------------------------ jobs


@dataclass
class PreviewRequest:
    """What to render: inputs inside the project, the look (size = the final's long edge) and the preview's edge."""

    content: Path
    styles: list[Path]
    look: Look
    preview_size: int

    def render_look(self) -> Look:
        """The look the preview renders with: the final's, at the preview's long edge (never larger than the final)."""
        return self.look.model_copy(update={"size": min(self.preview_size, self.look.size)})

    def snapshot_every(self) -> int:
        """Iterations between progressive snapshots: about a dozen per render."""
        return max(1, min(25, round(self.look.iterations / 12)))


@dataclass(eq=False)
class Job:
    id: str
    key: str
    group: str
    request: PreviewRequest
    state: State = "queued"
    cached: bool = False
    iteration: int = 0
    iterations: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    snapshot: bytes | None = None
    snapshot_iteration: int = 0
    error: str | None = None
    result: Preview | None = None
    version: int = 0
    created: float = field(default_factory=time.time)
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def info(self) -> dict:
        """The job as the page sees it (JSON)."""
        out: dict = {
            "id": self.id, "key": self.key, "state": self.state, "cached": self.cached,
            "iteration": self.iteration, "iterations": self.iterations, "loss": self.loss,
            "elapsed": round(self.elapsed, 3), "snapshot_iteration": self.snapshot_iteration,
            "error": self.error, "version": self.version,
        }
        if self.result is not None:
            r = self.result
            out["result"] = {
                "width": r.width, "height": r.height, "ratio": r.ratio, "seconds": round(r.seconds, 3),
                "weights_origin": r.weights_origin, "device": r.device, "loss": r.loss,
                "style_fraction": r.style_fraction, "iterations": r.iterations, "look": r.look,
                "image": f"/api/previews/{r.key}.png", "warning": r.warning,
            }
        return out


class RenderQueue:
    """Preview jobs for one device, rendered one at a time by a background thread, newest wishes first served.

    Submitting a job cancels the unfinished jobs of the same group (one page's slider): queued ones are dropped
    and a running one stops at its next iteration, so the worker moves on to what the user now wants.
    """

    def __init__(self, device: str = "auto", cache_bytes: int = 256 * 2**20, cache_folder: Path | None = None) -> None:
        self.device = str(resolve_device(device))
        self.cache = PreviewCache(cache_bytes, cache_folder)
        self.digests = FileDigests()
        self.saturations: SharedLRU[tuple[Saturation | None]] = SharedLRU(SATURATIONS_KEPT)
        self.renders = 0  # engine renders started (a cache hit starts none)
        self.origins: dict[tuple[str, str | None], str] = {}  # (network, weights) -> weights origin seen
        self._jobs: dict[str, Job] = {}  # oldest first; finished ones dropped past MAX_JOBS_KEPT
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._stop = False
        self._worker = threading.Thread(target=self._run, name=f"impasto-studio-{self.device}", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------------------------------- the API
    def key(self, request: PreviewRequest) -> str:
        """The look hash a preview is cached under: the render look (seed included), input contents, device."""
        data = {
            "look": request.render_look().model_dump(mode="json"),
            "content": self.digests(request.content),
            "styles": [self.digests(s) for s in request.styles],
            "device": self.device,
            **({"regions": [self.digests(f) for f in region_files(request.look)]} if request.look.regions else {}),
            "versions": [__version__, torch.__version__],  # the disk cache outlives an upgrade
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]

    def submit(self, request: PreviewRequest, group: str = "default", supersede: bool = True) -> Job:
        """Queue a preview (or answer it from the cache); with `supersede`, the group's unfinished jobs are cancelled."""
        if request.look.seed is None:
            raise ImpastoError("A studio preview needs a seed, so that it can be cached and reproduced.")
        key = self.key(request)
        with self._cond:
            job = Job(id=f"j{next(self._ids)}", key=key, group=group, request=request,
                      iterations=request.look.iterations)
            cached = self.cache.get(key)
            if supersede:
                for other in list(self._jobs.values()):
                    if other.group == group and other.state not in FINISHED and other.key != key:
                        self._cancel_locked(other)
            if cached is not None:
                job.state, job.cached, job.result = "done", True, cached
                job.iteration = cached.iterations
                job.version = 1
            else:
                # The same look already on its way: share that job rather than render twice.
                for other in self._jobs.values():
                    if other.key == key and other.state in ("queued", "running"):
                        return other
                self._queue.append(job)
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                oldest = next(iter(self._jobs.values()))
                if oldest.state not in FINISHED:
                    break
                del self._jobs[oldest.id]
            self._cond.notify_all()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in FINISHED:
                self._cancel_locked(job)
                self._cond.notify_all()
            return job

    def wait(self, job: Job, after_version: int, timeout: float) -> int:
        """Block until the job changes past `after_version` (or `timeout`); its version."""
        with self._cond:
            self._cond.wait_for(lambda: job.version > after_version, timeout=timeout)
            return job.version

    def wait_finished(self, job: Job, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: job.state in FINISHED, timeout=timeout)

    def close(self) -> None:
        """Stop the worker: queued jobs are cancelled, a running render stops at its next iteration."""
        with self._cond:
            self._stop = True
            for job in self._jobs.values():
                if job.state not in FINISHED:
                    self._cancel_locked(job)
            self._cond.notify_all()
        self._worker.join(timeout=30)

    # ---------------------------------------------------------------------------------------- internals
    def _cancel_locked(self, job: Job) -> None:
        job.cancel_event.set()
        if job.state == "queued":
            try:
                self._queue.remove(job)
            except ValueError:
                pass
            job.state = "cancelled"
            job.version += 1

    def _update(self, job: Job, **changes: object) -> None:
        with self._cond:
            # The event stream reads jobs without this lock: set the state last, so a reader that sees a
            # finished state also sees its error or result.
            for name, value in sorted(changes.items(), key=lambda kv: kv[0] == "state"):
                setattr(job, name, value)
            job.version += 1
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or bool(self._queue))
                if self._stop:
                    return
                job = self._queue.popleft()
                if job.cancel_event.is_set():
                    continue
                cached = self.cache.get(job.key)
                if cached is None:
                    job.state = "running"
                    job.version += 1
                    self._cond.notify_all()
            if cached is not None:  # rendered meanwhile by a job with the same key
                self._update(job, state="done", cached=True, result=cached, iteration=cached.iterations)
                continue
            with CpuShare(fixed_threads()):  # a preview takes its share of the cores beside renders, only while it paints
                self._render(job)

    def _saturation_warning(self, request: PreviewRequest, look: Look) -> str | None:
        """Whether this preview's u lies where more u changes little at its size (impasto.lookdev.saturation),
        measured once per plate, paintings and look other than u; never a reason for the preview to fail."""
        same = look.model_copy(update={"u": 0.0, "iterations": 1, "seed": 0})
        key = (self.digests(request.content), *(self.digests(s) for s in request.styles),
               same.model_dump_json())

        def make() -> tuple[Saturation | None]:
            try:
                styles = [load_rgb(s, "style image") for s in request.styles]
                return (measure(load_rgb(request.content, "content image"), styles, look, device=self.device,
                                blend=blend_weights(look.style_weights, len(styles))),)
            except Exception:  # noqa: BLE001 - a hint, not part of the preview
                return (None,)

        return preview_warning(self.saturations.get_or_make(key, make)[0], look.u, LARGER)

    def _render(self, job: Job) -> None:
        request = job.request
        look = request.render_look()
        every = request.snapshot_every()

        def progress(p: Progress) -> None:
            if job.cancel_event.is_set():
                raise Cancelled()
            self._update(job, iteration=p.iteration, iterations=p.iterations, loss=p.loss, elapsed=p.elapsed)

        def on_snapshot(iteration: int, image: np.ndarray) -> None:
            if job.cancel_event.is_set():
                raise Cancelled()
            self._update(job, snapshot=encode_png(image), snapshot_iteration=iteration)

        snaps = range(every, look.iterations, every)
        with self._cond:
            self.renders += 1
        try:
            result = render(request.content, [str(s) for s in request.styles], look, device=self.device,
                            progress=progress, snapshots=snaps, on_snapshot=on_snapshot)
        except Cancelled:
            self._update(job, state="cancelled")
            return
        except ImpastoError as exc:
            self._update(job, state="failed", error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the worker must survive anything and tell the page
            self._update(job, state="failed", error=f"The render failed unexpectedly ({type(exc).__name__}: {exc}).")
            return
        h, w = result.image.shape[:2]
        last = result.history[-1]
        preview = Preview(
            key=job.key, png=encode_png(result.image), width=w, height=h, ratio=result.ratio, seconds=result.seconds,
            weights_origin=result.weights_origin, device=result.device, loss=last.loss,
            style_fraction=style_fraction(result), iterations=last.iteration,
            look=result.look.model_dump(mode="json"), warning=self._saturation_warning(request, look),
        )
        self.origins[(look.network, look.weights)] = result.weights_origin
        self.cache.put(preview)
        self._update(job, state="done", result=preview, iteration=last.iteration)
