"""The driver of a cluster render: the planner's units handed to a pool of Ray actors, results and worker events
turned into the report and progress events, lost workers' units re-queued."""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from impasto.cluster.connection import connect, require_ray
from impasto.cluster.worker import FrameWorker, ProgressBox
from impasto.errors import ImpastoError, UsageError
from impasto.shot.config import Shot
from impasto.progress import FrameEvent
from impasto.shot.loop import RunReport, typical
from impasto.shot.plan import Plan, units
from impasto.shot.render import ShotRenderer
from impasto.version import __version__


# A cluster's events are the shot's frame events (impasto.progress.FrameEvent) with the worker fields filled: which
# worker sent it, every worker's pace, the pool's size. The old names stay for the Python API.
ClusterEvent = FrameEvent
ClusterProgress = Callable[[FrameEvent], None]


@dataclass
class ClusterOptions:
    """How to spread a shot over the cluster."""

    address: str = "auto"  # auto (RAY_ADDRESS, a running local cluster, else a new local one), local, or an address
    frames_per_task: int = 1  # frames per Ray task (render --frames-per-task)
    gpus_per_frame: float | None = None  # None: 1 where the cluster has GPUs, else CPU workers
    cpus_per_frame: int = 1  # CPUs (and torch threads) per worker
    workers: int | None = None  # at most this many worker processes (default: as many as the cluster holds)
    max_retries: int = 3  # restarts of a lost worker, and retries of its chunk


@dataclass
class ClusterReport(RunReport):
    address: str = ""
    workers: dict[str, list[int]] = field(default_factory=dict)  # frames each worker painted
    restarts: int = 0  # worker processes Ray restarted after they died
    requeued: int = 0  # chunks handed to another worker after theirs was lost for good
    elapsed: float = 0.0

    @property
    def frames_per_hour(self) -> float | None:
        done = len(self.rendered) + len(self.failed)
        return 3600.0 * done / self.elapsed if done and self.elapsed > 0 else None


def plan_workers(resources: dict[str, float], options: ClusterOptions, chunks: int) -> tuple[int, float, int]:
    """(workers, gpus per worker, cpus per worker) for a cluster with `resources` and a shot of `chunks` chunks."""
    gpus_total = float(resources.get("GPU", 0.0))
    gpus = options.gpus_per_frame if options.gpus_per_frame is not None else (1.0 if gpus_total >= 1 else 0.0)
    cpus = max(1, options.cpus_per_frame)
    if gpus > 0 and gpus_total < gpus:
        raise UsageError(f"The Ray cluster has {gpus_total:g} GPUs, fewer than the {gpus:g} asked per frame; "
                         "pass --gpus-per-frame 0 to paint on CPUs.")
    slots = math.floor(gpus_total / gpus + 1e-9) if gpus > 0 else math.floor(float(resources.get("CPU", 0.0)) / cpus)
    # A cluster that autoscales from zero shows no room yet: ask for one worker and let the autoscaler add nodes.
    workers = max(1, slots)
    if options.workers is not None:
        workers = max(1, options.workers)
    return min(workers, max(1, chunks)), gpus, cpus


def check_cluster(shot: Shot, options: ClusterOptions, from_previous: bool | None = None) -> Any:
    """Everything that can be refused before connecting to a cluster (one sentence each); the `ray` module."""
    if shot.render.learned:
        raise UsageError("A shot painted from keyframes (render.learned) renders on this machine (or several local "
                         "renders of the shot, or a farm job); drop --cluster.")
    ray = require_ray()
    if options.frames_per_task < 1:
        raise UsageError("--frames-per-task must be 1 or more frames.")
    if options.max_retries < 0:
        raise UsageError("--max-retries must be 0 or more.")
    if options.cpus_per_frame < 1:
        raise UsageError("--cpus-per-frame must be 1 or more.")
    if options.gpus_per_frame is not None and options.gpus_per_frame < 0:
        raise UsageError("--gpus-per-frame must be 0 (CPU workers) or more.")
    if (shot.render.from_previous if from_previous is None else from_previous):
        raise UsageError("Frames that start from the previous painted frame depend on each other, so they cannot be "
                         "spread over a cluster; render with --from-content, or set temporal.boil (--boil 1), whose "
                         "chunks render in parallel, or render without --cluster.")
    return ray


def render_on_cluster(
    shot: Shot,
    frames: list[int] | None = None,
    *,
    options: ClusterOptions | None = None,
    force: bool = False,
    from_previous: bool | None = None,
    progress: ClusterProgress | None = None,
    plan: Plan | None = None,
) -> ClusterReport:
    """Render the frames of `shot` not done yet on a Ray cluster (connecting per `options.address` if needed)."""
    opts = options or ClusterOptions()
    ray = check_cluster(shot, opts, from_previous)
    with ShotRenderer(shot, device="cpu", from_previous=from_previous) as r:
        plan = plan or r.plan(frames, force=force)
        shot, look_hash = r.shot, r.look_hash  # with the from_previous override applied, as workers will see it
        if plan.todo or plan.missing:
            shot.make_output_folder()  # which folder and why, before the first frame, when it cannot be made
        r.record_missing(plan.missing)  # no plate frame: recorded, and the run ends non-zero
    report = ClusterReport(version=shot.output.version, skipped=list(plan.skip), missing=list(plan.missing))
    if not plan.todo:
        return report
    with connect(opts.address) as where:
        report.address = where
        return _Driver(ray, shot, plan, opts, force, progress, report, (__version__, look_hash)).run()


class _Pool:
    """The driver's view of the workers: which are idle, which chunk each one is painting."""

    def __init__(self, ray: Any, make: Callable[[int], Any]) -> None:
        self.ray, self.make = ray, make
        self.idle: list[Any] = []
        self.busy: dict[Any, tuple[Any, int]] = {}  # ref -> (actor, chunk index)
        self.started = 0

    def start(self) -> None:
        self.idle.append(self.make(self.started))
        self.started += 1

    @property
    def alive(self) -> int:
        return len(self.idle) + len(self.busy)

    def kill(self, actor: Any) -> None:
        with suppress(Exception):  # already gone
            self.ray.kill(actor, no_restart=True)

    def kill_idle(self) -> None:
        while self.idle:
            self.kill(self.idle.pop())

    def close(self) -> None:
        self.kill_idle()
        for actor, _ in self.busy.values():
            self.kill(actor)
        self.busy.clear()


class _Driver:
    """One cluster run seen from the driver: hands chunks to the pool, turns results and worker events into the
    report and progress events, and re-queues the chunks of workers lost for good."""

    def __init__(self, ray: Any, shot: Shot, plan: Plan, opts: ClusterOptions, force: bool,
                 progress: ClusterProgress | None, report: ClusterReport, driver: tuple[str, str]) -> None:
        self.ray, self.opts, self.force, self.progress, self.report = ray, opts, force, progress, report
        self.todo = list(plan.todo)
        # The planner's units (impasto.shot.plan.units): runs of frames at boil 0; at boil > 0 the keyframes first,
        # then each chunk's frames in order once the keyframes it needs are done.
        self.units = units(plan, opts.frames_per_task)
        self.chunks = [list(u.frames) for u in self.units]
        self.needs: list[set[int]] = [set(u.needs) for u in self.units]
        n_workers, gpus, cpus = plan_workers(ray.cluster_resources(), opts, len(self.chunks))
        device = "cuda" if gpus > 0 else "cpu"
        box_name = f"impasto-progress-{uuid.uuid4().hex[:12]}"
        self.box = ray.remote(ProgressBox).options(num_cpus=0, name=box_name).remote()
        worker_cls = ray.remote(FrameWorker).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=opts.max_retries, max_task_retries=opts.max_retries,
            scheduling_strategy="SPREAD",
        )
        # The shot goes by value (small, inlined in the task spec): an actor restarted after its process died must
        # not depend on an object-store copy that may have gone with the node.
        self.pool = _Pool(ray, lambda index: worker_cls.remote(shot, device, cpus, index, driver, box_name))
        for _ in range(n_workers):
            self.pool.start()
        self.max_started = n_workers + max(1, opts.max_retries) * n_workers  # replacements for workers lost for good
        self.queue: deque[int] = deque(c for c in range(len(self.chunks)) if not self.needs[c])
        self.waiting: list[int] = [c for c in range(len(self.chunks)) if self.needs[c]]
        self.attempts = [0] * len(self.chunks)
        self.finished: dict[int, str] = {}  # frame -> done/failed, as announced
        self.seconds: dict[str, list[float]] = {}  # per worker
        self.pids: dict[str, set[int]] = {}
        self.current: dict[str, int] = {}  # the frame each worker last started

    # ------------------------------------------------------------------------------------------- the loop
    def run(self) -> ClusterReport:
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError  # ray is optional: see require_ray

        run_started, t0 = time.time(), time.perf_counter()
        pool = self.pool
        self.emit("ready", 0)
        try:
            while self.queue or pool.busy or self.waiting:
                self.release()
                self.dispatch(run_started)
                ready, _ = self.ray.wait(list(pool.busy), num_returns=len(pool.busy), timeout=0.5)
                self.drain()
                for ref in ready:
                    actor, c = pool.busy.pop(ref)
                    try:
                        result = self.ray.get(ref)
                    except RayTaskError as exc:
                        self.chunk_raised(c, exc)
                        pool.idle.append(actor)
                        continue
                    except TaskCancelledError:
                        continue
                    except RayError:
                        self.worker_lost(actor, c)
                        continue
                    self.collect(result)
                    pool.idle.append(actor)
                if not self.queue and not self.waiting:
                    pool.kill_idle()  # frees their slots, so a worker Ray restarts elsewhere finds room
                elif pool.alive == 0:
                    self.queue.extend(self.waiting)
                    self.waiting.clear()
                    while self.queue:  # every worker was lost and no more may be started
                        self.give_up(self.queue.popleft(), "no worker was left to paint it")
            self.drain()
        except BaseException:
            _cancel(self.ray, pool)
            raise
        finally:
            pool.close()
            with suppress(Exception):
                self.ray.kill(self.box)
            self.report.elapsed = time.perf_counter() - t0
        self.report.rendered.sort()
        return self.report

    def release(self) -> None:
        """Queue the chunks whose keyframes are finished (done or failed: a failed one is left out of the pull);
        all of them when nothing is left that could finish one."""
        stuck = not self.queue and not self.pool.busy
        for c in list(self.waiting):
            if stuck or self.needs[c] <= self.finished.keys():
                self.waiting.remove(c)
                self.queue.append(c)

    def dispatch(self, run_started: float) -> None:
        """Give queued chunks to idle workers."""
        while self.pool.idle and self.queue:
            c = self.queue.popleft()
            actor = self.pool.idle.pop()
            self.attempts[c] += 1
            self.pool.busy[actor.render_chunk.remote(self.units[c], run_started, self.force)] = (actor, c)

    def chunk_raised(self, c: int, exc: Any) -> None:
        """A chunk raised in its worker: an impasto error (a full disk) stops the run, anything else fails its frames."""
        cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
        if isinstance(cause, ImpastoError):
            raise type(cause)(str(cause)) from None  # e.g. the disk is full: stop, keep what is finished
        self.give_up(c, f"{type(cause).__name__ if cause else 'RayTaskError'}: {cause or exc}".splitlines()[0])

    def worker_lost(self, actor: Any, c: int) -> None:
        """The worker is gone for good (its node died, restarts used up): another takes the chunk, skipping what is done."""
        self.pool.kill(actor)
        if self.attempts[c] <= self.opts.max_retries:
            self.report.requeued += 1
            self.queue.appendleft(c)
        else:
            self.give_up(c, f"its worker was lost {self.attempts[c]} times")
        if self.pool.alive == 0 and self.queue and self.pool.started < self.max_started:
            self.pool.start()

    def collect(self, result: dict[str, Any]) -> None:
        """A chunk's result: its frames' manifest entries and the frames it found done."""
        if "setup_error" in result:
            if result.get("own_sentence"):
                raise UsageError(result["setup_error"])
            raise UsageError(f"Worker {result['worker']} could not load the shot: {result['setup_error'].rstrip('.')}; "
                             "every worker must reach the shot's files at the same paths (shared storage).")
        for n, entry in sorted(result["entries"].items()):
            self.finish(int(n), entry, result["worker"])
        for n in result["skipped"]:
            if n not in self.finished and n not in self.report.skipped:
                self.report.skipped.append(n)

    # ------------------------------------------------------------------------------------ frames and events
    def rates(self) -> dict[str, float]:
        """Frames per hour of each worker that has finished a frame."""
        out = {}
        for w, s in self.seconds.items():
            t = typical(s)
            if t:
                out[w] = 3600.0 / t
        return out

    def emit(self, kind: str, frame: int, worker: str = "", secs: float | None = None, error: str | None = None,
             loss: float | None = None) -> None:
        if self.progress is None:
            return
        r = self.rates()
        per = typical([x for s in self.seconds.values() for x in s])
        speed = sum(r.values()) / 3600.0  # frames per second, all workers together
        left = len(self.todo) - len(self.finished)
        eta = left / speed if speed > 0 else None
        self.progress(FrameEvent(kind=kind, frame=frame, done=len(self.finished), total=len(self.todo),  # type: ignore[arg-type]
                                 seconds=secs, per_frame=per, eta=eta, error=error, loss=loss, worker=worker, rates=r,
                                 workers=self.pool.alive, address=self.report.address))

    def finish(self, n: int, entry: dict[str, Any], worker: str) -> None:
        report = self.report
        status = entry.get("status", "failed")
        if status == "done":
            if n not in report.rendered:
                report.rendered.append(n)
            report.failed.pop(n, None)
        else:
            report.failed[n] = entry.get("error") or "unknown error"
        report.seconds[n] = float(entry.get("seconds") or 0.0)
        if n not in self.finished:
            self.finished[n] = status
            who = worker or f"{entry.get('host', '?')}/pid{entry.get('pid', 0)}"
            self.seconds.setdefault(who, []).append(report.seconds[n])
            report.workers.setdefault(who, []).append(n)
            self.emit(status, n, who, report.seconds[n], entry.get("error"), entry.get("loss"))

    def drain(self) -> None:
        """Take the workers' posted events: restarts, frames started and finished."""
        from ray.exceptions import RayError  # ray is optional: see require_ray

        try:
            events = self.ray.get(self.box.take.remote(), timeout=30)
        except RayError:
            return
        for e in events:
            w = e.get("worker", "")
            if e["kind"] == "ready":
                seen = self.pids.setdefault(w, set())
                if seen and e["pid"] not in seen:
                    self.report.restarts += 1
                    self.emit("lost", self.current.get(w, 0), w)
                seen.add(e["pid"])
            elif e["kind"] == "start":
                self.current[w] = e["frame"]
                if e["frame"] not in self.finished:
                    self.emit("start", e["frame"], w)
            elif e["kind"] in ("done", "failed") and e["frame"] not in self.finished:
                self.finish(e["frame"], {"status": e["kind"], "seconds": e.get("seconds"), "error": e.get("error"),
                                         "loss": e.get("loss")}, w)

    def give_up(self, c: int, why: str) -> None:
        for n in self.chunks[c]:
            if n not in self.finished:
                self.finish(n, {"status": "failed", "error": why}, "")


def _cancel(ray: Any, pool: _Pool, grace: float = 10.0) -> None:
    """Ctrl-C: flag every chunk in flight as cancelled (the frame being painted is dropped, none is half-written)."""
    refs = list(pool.busy)
    for ref in refs:
        with suppress(Exception):  # already finished, or its worker is gone
            ray.cancel(ref)
    if refs:
        with suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=grace)
