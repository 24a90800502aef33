"""One progress model for all long work: an `Event` says where one scope of work stands.

The scopes are an optimisation's **iteration**, a shot's **frame**, a **cell** of a sweep (or of any grid of
renders: a calibration's probes, a fast-model comparison) and a fast model's training **step**. Every event has the
same core (how many of how many, the loss when there is one, elapsed seconds and the seconds left) and each scope
adds what is its own (a frame's number and time, a cell's name, the loss per u bucket). Every long call of the core
takes one callback of one signature, `Callable[[Event], None]`; the command line shows every scope through one
reporter (`impasto.commands.progress.Reporter`), a rich bar on a terminal and plain lines in a log.

Nothing here prints or measures: producers fill the events, and `remaining` is the one place an ETA is worked out
from a pace when the producer did not give one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Scope = Literal["iteration", "frame", "cell", "step"]

# progress: an iteration or training step was accepted. start / iteration: a frame or cell began, a frame's
# optimisation moved on. done / failed: a frame or cell finished. skipped: a cell the folder already holds.
# elsewhere: another render holds the frame (or painted it meanwhile). missing: no plate frame. ready / lost: a
# cluster's workers came up, a worker died.
Kind = Literal["progress", "start", "iteration", "done", "failed", "skipped", "elsewhere", "missing", "ready", "lost"]

FINISHED: frozenset[str] = frozenset({"done", "failed", "skipped", "elsewhere", "missing"})


@dataclass(kw_only=True)
class Event:
    """Where one scope of work stands. `done` counts the units finished (this one included once it is finished)."""

    scope: ClassVar[Scope]
    kind: Kind = "progress"
    done: int
    total: int
    loss: float | None = None
    elapsed: float | None = None  # seconds since this work began
    eta: float | None = None  # seconds left, when the producer knows better than the pace so far
    subject: str = ""  # what this is part of, for a reader: a sweep run's style and u, a cluster worker
    error: str | None = None

    @property
    def finished(self) -> bool:
        """This event ends a unit (a frame or cell finished, or the last iteration or step)."""
        return self.kind in FINISHED or (self.kind == "progress" and self.done >= self.total)

    def remaining(self) -> float | None:
        """Seconds left: the producer's `eta`, else the pace so far times the units left."""
        if self.eta is not None:
            return self.eta
        if self.total and self.done >= self.total:
            return 0.0
        counted = self.done - self.resumed
        if not self.elapsed or counted <= 0:
            return None
        return self.elapsed / counted * max(0, self.total - self.done)

    @property
    def resumed(self) -> int:
        """Units finished before this run began (a resumed training): not part of its pace."""
        return 0

    def describe(self) -> str:
        """What this scope adds, in a few words for a progress line ('' when nothing)."""
        return "" if self.loss is None else f"loss {self.loss:.4e}"


@dataclass(kw_only=True)
class Progress(Event):
    """One accepted iteration of an optimisation: the losses as the user sees them (unscaled)."""

    scope: ClassVar[Scope] = "iteration"
    loss: float = math.nan
    elapsed: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)  # every loss group, weighted (content, style, tv, ...)

    @property
    def iteration(self) -> int:
        return self.done

    @property
    def iterations(self) -> int:
        return self.total

    @property
    def content(self) -> float:
        return self.terms.get("content", 0.0)

    @property
    def style(self) -> float:
        return self.terms.get("style", 0.0)

    @property
    def tv(self) -> float:
        return self.terms.get("tv", 0.0)

    @property
    def rate(self) -> float:
        """Iterations per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def describe(self) -> str:
        return f"loss {self.loss:.4e}, {self.rate:.2f} it/s, content {self.content:.3e} style {self.style:.3e}"


IterationEvent = Progress  # the scope's name; `Progress` is the name the Python API has always used


@dataclass(kw_only=True)
class FrameEvent(Event):
    """Where a shot render stands (every executor: this process, several processes, Ray workers)."""

    scope: ClassVar[Scope] = "frame"
    frame: int = 0
    seconds: float | None = None  # this frame's time, once finished
    per_frame: float | None = None  # typical time per frame so far
    iteration: int = 0  # the frame's optimisation, on "iteration" events
    iterations: int = 0
    # On a cluster: the worker that sent it, every worker's pace (frames per hour), the pool's size, where.
    worker: str = ""
    rates: dict[str, float] = field(default_factory=dict)
    workers: int = 0
    address: str = ""

    def describe(self) -> str:
        what = {"start": "started", "iteration": f"iteration {self.iteration}/{self.iterations}",
                "done": f"done in {duration(self.seconds)}", "failed": f"FAILED ({self.error})",
                "elsewhere": f"left to another render ({self.error})", "missing": "missing from the plate",
                "lost": f"in flight when worker {self.worker} died (Ray restarts it; the unit resumes without repainting "
                        "finished frames)"}.get(self.kind, self.kind)
        if self.kind == "ready":
            return self.pace() + (f" on {self.address}" if self.address else "")
        parts = [f"frame {self.frame} {what}"]
        if self.loss is not None and self.kind == "done":
            parts.append(f"loss {self.loss:.4e}")
        if self.worker and self.kind in ("done", "failed"):
            own = self.rates.get(self.worker)
            parts.append(f"on {self.worker}" + (f" ({own:.0f} frames/h)" if own else ""))
        if self.workers and self.kind != "ready":
            parts.append(self.pace())
        elif self.per_frame is not None:
            parts.append(f"{duration(self.per_frame)}/frame")
        return ", ".join(parts)

    def pace(self) -> str:
        """'3 workers, 40 frames/h' on a cluster."""
        speed = sum(self.rates.values())
        return f"{self.workers} worker{'s' if self.workers != 1 else ''}" + (f", {speed:.0f} frames/h" if speed else "")


@dataclass(kw_only=True)
class CellEvent(Event):
    """A cell of a grid of renders started, finished, or was skipped because the folder already holds it.

    A sweep's cells carry the `Cell`; a calibration's probes and a comparison's renders carry only their name."""

    scope: ClassVar[Scope] = "cell"
    name: str = ""
    cell: Any = None  # the sweep's Cell, when the grid is a sweep
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.kind == "skipped"

    def describe(self) -> str:
        parts = [self.name + (" (kept)" if self.skipped else "")] if self.name else []
        if self.kind == "done" and self.seconds:
            parts.append(f"{duration(self.seconds)}")
        if self.loss is not None and self.kind == "done":
            parts.append(f"loss {self.loss:.4e}")
        return ", ".join(parts)


@dataclass(kw_only=True)
class TrainProgress(Event):
    """One training step of a fast model."""

    scope: ClassVar[Scope] = "step"
    loss: float = math.nan  # normalised loss of this step's batch (1.0 = as good as the unpainted frame)
    elapsed: float = 0.0
    buckets: dict[str, float] = field(default_factory=dict)  # smoothed normalised loss per u bucket
    resumed_from: int = 0
    time_limit: float | None = None  # seconds this run may take (--minutes): the ETA is the sooner end

    @property
    def step(self) -> int:
        return self.done

    @property
    def steps(self) -> int:
        return self.total

    @property
    def resumed(self) -> int:
        return self.resumed_from

    def remaining(self) -> float | None:
        by_steps = super().remaining()
        if self.time_limit is None:
            return by_steps
        left = max(0.0, self.time_limit - (self.elapsed or 0.0))
        return left if by_steps is None else min(by_steps, left)

    def describe(self) -> str:
        done = self.done - self.resumed_from
        rate = self.elapsed / done if done > 0 else 0.0
        buckets = " ".join(f"{k} {v:.3f}" for k, v in self.buckets.items())
        return f"loss {self.loss:.4f}, {rate:.2f} s/step" + (f", {buckets}" if buckets else "")


StepEvent = TrainProgress  # the scope's name; `TrainProgress` is the name the Python API has always used

OnEvent = Callable[[Event], None]


def duration(seconds: float | None) -> str:
    """'8.2 s', '42 s', '3m05s', '1h20m'; '-' for None."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
