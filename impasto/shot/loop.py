"""The one frame loop: a plan's units run by an executor, each frame claimed, locked, painted and recorded by
`paint_claimed`, the one function in the tree that does that.

Executors: `render_frames` runs every unit in this process; several `impasto render` processes of one shot split
its frames through the frame locks (each claims before it paints), so "several local processes" is this same
executor run more than once; Ray actors (`impasto.cluster`) take one unit at a time and run it with `run_unit`,
exactly as this process does. A farm task (`impasto render --frames A-B`) is this process again.

Progress goes to a callback as `FrameEvent`s (frame events carry the frame's final loss); their time per frame
and ETA come from `typical`, so every executor predicts alike. Nothing here prints.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from impasto.errors import ImpastoError
from impasto.progress import Event, FrameEvent
from impasto.shot.config import Shot
from impasto.shot.learned import WAIT_POLL, Trainer, painter_path
from impasto.shot.locks import FrameLock, Holder, claim, is_stale, lock_path, read_holder
from impasto.shot.manifest import FrameEntry
from impasto.shot.painter import Painter
from impasto.shot.plan import TRAIN, Plan, Unit, units
from impasto.shot.render import ShotRenderer

# The frame scope of the one progress model (impasto.progress), and the step scope while a painter is learned.
Progress = Callable[[Event], None]


@dataclass
class RunReport:
    version: int
    rendered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    seconds: dict[int, float] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)  # plate frames not there: recorded in the manifest
    elsewhere: dict[int, str] = field(default_factory=dict)  # frames another render held or painted meanwhile
    learned: str | None = None  # render.learned: the id of the painter this render learned or used
    learn_error: str | None = None  # ... or why it could not be learned (its frames are then not painted)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing and self.learn_error is None


def typical(seconds: Sequence[float]) -> float | None:
    """Time per frame: the median of the last nine, leaving out a process's first frame (it also loads the network
    and style targets) when there are others. Every executor's ETA comes from here."""
    if not seconds:
        return None
    steady = list(seconds[1:] if len(seconds) > 1 else seconds)
    return statistics.median(steady[-9:])


def paint_claimed(r: ShotRenderer, n: int, since: float, *, run: str = "",
                  on_iteration: Callable[[int, int], None] | None = None,
                  on_start: Callable[[], None] | None = None) -> FrameEntry | Holder | None:
    """Claim frame `n` (impasto.shot.locks) and, when this process gets it, paint, write and record it under its
    lock, touching the lock every iteration: the frame's entry. Otherwise the live `Holder` of the frame, or None
    when another render finished it after `since` or it no longer needs painting. `on_iteration` may raise
    KeyboardInterrupt to drop the frame before anything is written."""
    got = r.claim(n, since, run=run)
    if not isinstance(got, FrameLock):
        return got
    with got:
        if on_start is not None:
            on_start()

        def touched(i: int, its: int) -> None:
            got.touch()
            if on_iteration is not None:
                on_iteration(i, its)

        return r.render_frame(n, on_iteration=touched)


def learn_claimed(r: ShotRenderer, *, run: str = "", progress: Progress | None = None) -> str:
    """The plan's TRAIN task: learn the painter of the keyframes as they are now under its lock, or wait while
    another render learns it; its id. Raises ImpastoError (one sentence) when it cannot be learned."""
    pid = r.painter_id()
    while pid is None:
        if not any(_held(r, k) for k in r.unpainted_keyframes()):
            r.learn_painter()  # raises the sentence naming the keyframes not painted yet
        time.sleep(WAIT_POLL)  # another live render is painting a keyframe the painter learns from
        pid = r.painter_id()
    path = painter_path(r.shot, pid, r.version)
    while True:
        got = claim(path, r.manifest_path, lambda: not path.is_file(), run=run)
        if got is None:
            return pid  # there already (learned by another render meanwhile)
        if isinstance(got, FrameLock):
            with got:
                def touched(event: Event) -> None:
                    got.touch()
                    if progress is not None:
                        progress(event)

                return r.learn_painter(progress=touched)[0]
        time.sleep(WAIT_POLL)  # another live render is learning it: its painter paints our frames too


def _held(r: ShotRenderer, frame: int) -> bool:
    """A live render holds frame `frame`'s lock (it is painting it)."""
    got = read_holder(lock_path(r.shot.output_path(frame)))
    return got is not None and not is_stale(*got)


def run_unit(r: ShotRenderer, unit: Unit, since: float, *, run: str = "",
             on_start: Callable[[int], None] | None = None,
             on_iteration: Callable[[int, int, int], None] | None = None,
             on_frame: Callable[[int, FrameEntry | None, str | None], None] | None = None) -> None:
    """Paint a unit's frames in order with `paint_claimed`. In a chained unit (a boil chunk) frames depend on each
    other: when another live render holds one, the rest of the unit is left to it. `on_frame(n, entry, why)`
    follows every frame (entry None: left to another render, for `why`)."""
    left = False
    for n in unit.frames:
        if left:
            if on_frame:
                on_frame(n, None, f"chunk {unit.chunk} is with another render")
            continue
        got = paint_claimed(r, n, since, run=run, on_start=(lambda n=n: on_start(n)) if on_start else None,
                            on_iteration=(lambda i, its, n=n: on_iteration(n, i, its)) if on_iteration else None)
        if isinstance(got, FrameEntry):
            why = None
        elif unit.chained and isinstance(got, Holder):
            left = True  # its frames depend on each other: the render painting one of them paints the rest
            why = f"held by {got.describe()}; the rest of its chunk is left to it"
        else:
            why = f"held by {got.describe()}" if got is not None else "painted by another render"
        if on_frame:
            on_frame(n, got if isinstance(got, FrameEntry) else None, why)


def render_frames(
    shot: Shot,
    frames: list[int] | None = None,
    *,
    force: bool = False,
    device: str | None = None,
    from_previous: bool | None = None,
    progress: Progress | None = None,
    plan: Plan | None = None,
    renderer: ShotRenderer | None = None,
    painter: Painter | None = None,
    trainer: Trainer | None = None,
) -> RunReport:
    """Render the frames of `shot` (default: all) that are not done yet, in this process; failures and missing
    plate frames are recorded and the run goes on. Each frame is claimed first (impasto.shot.locks), so renders of
    the shot running at once split the frames between them.

    `painter` (default: the optimisation) paints each frame when no `renderer` is given; `trainer` learns the
    painter of a shot with render.learned (`impasto.fast.learn.ShotTrainer`)."""
    own = renderer is None
    r = renderer or ShotRenderer(shot, painter=painter, device=device, from_previous=from_previous, trainer=trainer)
    try:
        plan = plan or r.plan(frames, force=force)
        report = RunReport(version=r.version, skipped=list(plan.skip), missing=list(plan.missing))
        if plan.todo or plan.missing:
            r.shot.make_output_folder()  # which folder and why, before the first frame, when it cannot be made
        r.record_missing(plan.missing)
        run_plan(r, plan, report, progress)
        return report
    finally:
        if own:
            r.close()


def run_plan(r: ShotRenderer, plan: Plan, report: RunReport, progress: Progress | None = None) -> None:
    """This process's executor: every unit of `plan` in order through `run_unit`, into `report`."""
    total = len(plan.todo)
    times: list[float] = []
    count = 0

    def eta() -> float | None:
        per = typical(times)
        return per * (total - count) if per else None

    def started(n: int) -> None:
        if progress:
            progress(FrameEvent(kind="start", frame=n, done=count, total=total, per_frame=typical(times), eta=eta()))

    def iteration(n: int, it: int, its: int) -> None:
        if progress:
            progress(FrameEvent(kind="iteration", frame=n, done=count, total=total, per_frame=typical(times), iteration=it,
                                iterations=its, eta=eta()))

    def finished(n: int, entry: FrameEntry | None, why: str | None) -> None:
        nonlocal count
        count += 1
        if entry is None:
            report.elsewhere[n] = why or ""
            if progress:
                progress(FrameEvent(kind="elsewhere", frame=n, done=count, total=total, per_frame=typical(times), error=why))
            return
        times.append(entry.seconds)
        report.seconds[n] = entry.seconds
        if entry.status == "done":
            report.rendered.append(n)
        else:
            report.failed[n] = entry.error or "unknown error"
        if progress:
            progress(FrameEvent(kind=entry.status, frame=n, done=count, total=total, seconds=entry.seconds, per_frame=typical(times),
                                eta=eta(), error=entry.error, loss=entry.loss))

    for unit in units(plan):
        if unit.task == TRAIN:
            try:
                report.learned = learn_claimed(r, progress=progress)
            except ImpastoError as exc:
                report.learn_error = str(exc)
            continue
        if TRAIN in unit.waits and report.learn_error is not None:
            for n in unit.frames:  # nothing to paint them with
                finished(n, None, f"the learned painter could not be learned: {report.learn_error}")
            continue
        run_unit(r, unit, plan.started, on_start=started, on_iteration=iteration, on_frame=finished)
