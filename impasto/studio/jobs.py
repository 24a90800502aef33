"""Preview renders for the studio: one background worker per device, a queue, cancellation and a cache.

The worker queue itself (`WorkerQueue`: jobs run one at a time by a background thread, cancellation, the states
and versions the event stream follows) serves the studio's other background jobs too (`impasto.studio.painters`).

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
from typing import Generic, Literal, TypeVar

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


# ------------------------------------------------------------------------------------------------ the worker queue


@dataclass(eq=False, kw_only=True)
class QueuedJob:
    """What every background job has: its id, where it stands, its version (bumped on every change, for the event
    stream) and the flag that asks its work to stop. A job type adds what it does and its `info` for the page."""

    id: str
    state: State = "queued"
    error: str | None = None
    version: int = 0
    created: float = field(default_factory=time.time)
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def info(self) -> dict:
        """The job as the page sees it (JSON); each job type says."""
        raise NotImplementedError


J = TypeVar("J", bound=QueuedJob)


class WorkerQueue(Generic[J]):
    """Jobs run one at a time, oldest first, by one background thread; cancel, wait and close them.

    A queue type adds its jobs with `_add_locked`, may answer a job as the worker takes it (`_begin_locked`), and
    does a job's work in `_work` on the worker thread, reporting through `_update`. Work that raises `Cancelled`
    ends the job cancelled; an `ImpastoError` or anything else ends it failed with one sentence, and the thread
    goes on with the next job. `cancel` drops a queued job and asks a running one to stop (its `cancel_event`).
    """

    what = "The job"  # an unexpected failure says "<what> failed unexpectedly (...)"

    def __init__(self, thread_name: str, join_seconds: float = 30) -> None:
        """Start the worker thread; a subclass sets up what its work needs before calling this."""
        self._jobs: dict[str, J] = {}  # oldest first
        self._queue: deque[J] = deque()
        self._cond = threading.Condition()  # reentrant: `_update` may be called with it held
        self._ids = itertools.count(1)
        self._stop = False
        self._join_seconds = join_seconds
        self._worker = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------------------------------- the API
    def get(self, job_id: str) -> J | None:
        """The job with this id, or None (never submitted, or forgotten long ago)."""
        with self._cond:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> J | None:
        """Cancel a job: a queued one is dropped, a running one stops at its work's next step; the job, or None."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in FINISHED:
                self._cancel_locked(job)
                self._cond.notify_all()
            return job

    def wait(self, job: J, after_version: int, timeout: float) -> int:
        """Block until the job changes past `after_version` (or `timeout`); its version."""
        with self._cond:
            self._cond.wait_for(lambda: job.version > after_version, timeout=timeout)
            return job.version

    def wait_finished(self, job: J, timeout: float) -> bool:
        """Block until the job is finished (or `timeout`); whether it is."""
        with self._cond:
            return self._cond.wait_for(lambda: job.state in FINISHED, timeout=timeout)

    def close(self) -> None:
        """Stop the worker: queued jobs are cancelled, a running one stops at its next step."""
        with self._cond:
            self._stop = True
            for job in self._jobs.values():
                if job.state not in FINISHED:
                    self._cancel_locked(job)
            self._cond.notify_all()
        self._worker.join(timeout=self._join_seconds)

    # ---------------------------------------------------------------------------------------- for subclasses
    def _next_id(self, prefix: str) -> str:
        """A new job id: `prefix` and a number counting up from 1."""
        return f"{prefix}{next(self._ids)}"

    def _add_locked(self, job: J, queued: bool = True) -> None:
        """Remember a new job (the lock held) and, when `queued`, put it in the worker's queue."""
        self._jobs[job.id] = job
        if queued:
            self._queue.append(job)
        self._cond.notify_all()

    def _begin_locked(self, job: J) -> bool:
        """Called with the lock held as the worker takes `job`: whether it still needs its work (else it was
        answered here, by `_update`). The job then turns 'running' and `_work` does it."""
        return True

    def _work(self, job: J) -> None:
        """Do a running job's work on the worker thread (without the lock), ending it 'done' with `_update`; raise
        `Cancelled` when its `cancel_event` asks it to stop."""
        raise NotImplementedError

    def _sentence(self, exc: ImpastoError) -> str:
        """What a failed job says for an `ImpastoError` its work raised."""
        return str(exc)

    def _stopped(self, job: J, **changes: object) -> None:
        """End a job whose work raised: `changes` holds its state (cancelled or failed) and any error."""
        self._update(job, **changes)

    def _cancel_locked(self, job: J) -> None:
        """Cancel an unfinished job (the lock held): flag it, and drop it from the queue when it waits there."""
        job.cancel_event.set()
        if job.state == "queued":
            try:
                self._queue.remove(job)
            except ValueError:
                pass
            job.state = "cancelled"
            job.version += 1

    def _update(self, job: J, **changes: object) -> None:
        """Change a job's fields, bump its version and wake whoever waits on it."""
        with self._cond:
            # The event stream reads jobs without this lock: set the state last, so a reader that sees a
            # finished state also sees its error or result.
            for name, value in sorted(changes.items(), key=lambda kv: kv[0] == "state"):
                setattr(job, name, value)
            job.version += 1
            self._cond.notify_all()

    # ---------------------------------------------------------------------------------------- internals
    def _run(self) -> None:
        """The worker thread: take the oldest queued job, mark it running, do it; until `close`."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or bool(self._queue))
                if self._stop:
                    return
                job = self._queue.popleft()
                if job.cancel_event.is_set() or not self._begin_locked(job):
                    continue
                job.state = "running"
                job.version += 1
                self._cond.notify_all()
            self._execute(job)

    def _execute(self, job: J) -> None:
        """Do a job's work; what it raises ends the job (cancelled or failed), never the thread."""
        try:
            self._work(job)
        except Cancelled:
            self._stopped(job, state="cancelled")
        except ImpastoError as exc:
            self._stopped(job, state="failed", error=self._sentence(exc))
        except Exception as exc:  # noqa: BLE001 - the worker must survive anything and tell the page
            self._stopped(job, state="failed", error=f"{self.what} failed unexpectedly ({type(exc).__name__}: {exc}).")


# ------------------------------------------------------------------------------------------------ preview jobs


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
class Job(QueuedJob):
    """One preview: its cache key, its group (one page's slider), what it renders and where it stands."""

    key: str
    group: str
    request: PreviewRequest
    cached: bool = False
    iteration: int = 0
    iterations: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    snapshot: bytes | None = None
    snapshot_iteration: int = 0
    result: Preview | None = None

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


class RenderQueue(WorkerQueue[Job]):
    """Preview jobs for one device, rendered one at a time by a background thread, newest wishes first served.

    Submitting a job cancels the unfinished jobs of the same group (one page's slider): queued ones are dropped
    and a running one stops at its next iteration, so the worker moves on to what the user now wants.
    """

    what = "The render"

    def __init__(self, device: str = "auto", cache_bytes: int = 256 * 2**20, cache_folder: Path | None = None) -> None:
        self.device = str(resolve_device(device))
        self.cache = PreviewCache(cache_bytes, cache_folder)
        self.digests = FileDigests()
        self.saturations: SharedLRU[tuple[Saturation | None]] = SharedLRU(SATURATIONS_KEPT)
        self.renders = 0  # engine renders started (a cache hit starts none)
        self.origins: dict[tuple[str, str | None], str] = {}  # (network, weights) -> weights origin seen
        super().__init__(f"impasto-studio-{self.device}")  # finished jobs are dropped past MAX_JOBS_KEPT

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
            job = Job(id=self._next_id("j"), key=key, group=group, request=request,
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
            self._add_locked(job, queued=cached is None)
            while len(self._jobs) > MAX_JOBS_KEPT:
                oldest = next(iter(self._jobs.values()))
                if oldest.state not in FINISHED:
                    break
                del self._jobs[oldest.id]
            return job

    # ---------------------------------------------------------------------------------------- internals
    def _begin_locked(self, job: Job) -> bool:
        """A job whose look was rendered meanwhile (by a job with the same key) is answered from the cache."""
        cached = self.cache.get(job.key)
        if cached is None:
            return True
        self._update(job, state="done", cached=True, result=cached, iteration=cached.iterations)
        return False

    def _work(self, job: Job) -> None:
        """Render the preview (`_render`), with the worker's share of the CPU cores."""
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
        result = render(request.content, [str(s) for s in request.styles], look, device=self.device,
                        progress=progress, snapshots=snaps, on_snapshot=on_snapshot)
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
