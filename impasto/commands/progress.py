"""The one progress reporter of the command line: every scope of `impasto.progress` (iterations, frames, cells,
training steps) shown one way. On a terminal a rich bar per scope that fits the width (80 columns too: the count
and the ETA stay whole); otherwise plain lines for logs and farms: every finished frame or cell, failures and
cluster news always, and about twenty lines over a run of iterations or steps."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Self, TypeVar

from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from impasto.commands.common import err
from impasto.progress import Event, Scope, duration

ColumnT = TypeVar("ColumnT", bound=ProgressColumn)
BAR_MIN = 10  # the narrowest a bar gets before it is left out


def optional(column: ColumnT, rank: int = 1) -> ColumnT:
    """Mark a progress column as one a narrow terminal may leave out: the highest rank goes first (unmarked
    columns stay; a TimeElapsedColumn is optional at rank 3 unless marked)."""
    column.drop_rank = rank  # type: ignore[attr-defined]
    return column


def _rank(column: object) -> int | None:
    rank = getattr(column, "drop_rank", None)
    return 3 if rank is None and isinstance(column, TimeElapsedColumn) else rank


class EtaColumn(ProgressColumn):
    """'ETA 0:01:23': the task's field `eta` (the event's `remaining()`: its producer's estimate, or the pace so far)
    when there is one, else rich's estimate of the recent speed."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        remaining = 0.0 if task.finished else (eta if eta is not None else task.time_remaining)
        if remaining is None:
            return Text("ETA -:--:--", style="progress.remaining")
        minutes, seconds = divmod(int(remaining), 60)
        return Text(f"ETA {minutes // 60:d}:{minutes % 60:02d}:{seconds:02d}", style="progress.remaining")


class FittedProgress(Progress):
    """A rich Progress that fits the terminal (80 columns too): when its columns are wider than the console it
    narrows the bars (down to BAR_MIN), then leaves out the optional columns, highest rank first, then the bars, so
    the count and the ETA stay whole instead of being squeezed into ellipses."""

    def make_tasks_table(self, tasks: Iterable[Task]) -> Table:
        tasks = [t for t in tasks if t.visible]
        if not tasks or getattr(self, "live", None) is None:  # rich draws once while constructing, before `live`
            return super().make_tasks_table(tasks)
        full = self.columns
        bars = [c for c in full if isinstance(c, BarColumn)]
        widths = [c.bar_width for c in bars]
        self.columns = fit_columns(self.console, full, tasks)
        try:
            return super().make_tasks_table(tasks)
        finally:
            self.columns = full
            for bar, width in zip(bars, widths):
                bar.bar_width = width


def fit_columns(console: Console, columns: tuple, tasks: list[Task]) -> tuple:
    """The columns that fit `console`'s width for these tasks (bars narrowed in place; see FittedProgress)."""
    def width(column: object) -> int:
        if isinstance(column, BarColumn):
            return column.bar_width or 40
        cells = [Text(column.format(task=t)) if isinstance(column, str) else column(t) for t in tasks]
        return max((Measurement.get(console, console.options, c).maximum for c in cells), default=0)

    kept = list(columns)
    sizes = {id(c): width(c) for c in kept}
    excess = sum(sizes.values()) + len(kept) - 1 - console.width
    for bar in (c for c in kept if isinstance(c, BarColumn)):
        if excess > 0 and sizes[id(bar)] > BAR_MIN:
            take = min(excess, sizes[id(bar)] - BAR_MIN)
            bar.bar_width = sizes[id(bar)] - take
            excess -= take
    droppable = sorted((c for c in kept if _rank(c) is not None), key=lambda c: -_rank(c))
    droppable += [c for c in kept if isinstance(c, BarColumn)]
    for column in droppable:
        if excess <= 0:
            break
        kept.remove(column)
        excess -= ((column.bar_width or 0) if isinstance(column, BarColumn) else sizes[id(column)]) + 1
    return tuple(kept)



# How a scope's count reads in a line: "iteration 4/40", "frames 3/10".
NOUN: dict[str, str] = {"iteration": "iteration", "frame": "frames", "cell": "cell", "step": "step"}
PARTS = 3  # text columns after the count; a narrow terminal leaves out the later ones first


class Reporter:
    """Shows every progress `Event` of one command: `with Reporter("stylize") as report: render(..., progress=report)`.

    `totals` makes a scope's bar before its first event (so a bar, and a time limit's ETA, show at once);
    `time_limit` (seconds) is the ETA until the first event says better. Thread-safe: a sweep's parallel cells
    report from several threads."""

    LINES = 20  # plain lines over a run of iterations or steps

    def __init__(self, label: str, *, totals: Mapping[Scope, int] | None = None, time_limit: float | None = None,
                 console: Console | None = None) -> None:
        self.label = label
        self.tty = console.is_terminal if console is not None else sys.stderr.isatty()
        self.console = console
        self.lock = threading.Lock()
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self.bar: Progress | None = None
        if self.tty:
            parts = [optional(TextColumn(f"{{task.fields[p{i}]}}"), rank) for i, rank in enumerate((1, 2, 4)[:PARTS])]
            self.bar = FittedProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      *parts, TimeElapsedColumn(), EtaColumn(), console=console or err)
            for scope, total in (totals or {}).items():
                self._task(scope, "", total, eta=time_limit)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def __call__(self, e: Event) -> None:
        with self.lock:
            if self.bar:
                self._draw(e)
            elif self._worth_a_line(e):
                self.say(self.line(e))

    def say(self, text: str) -> None:
        """A message line: above the bars on a terminal, on stderr otherwise."""
        if self.bar:
            self.bar.console.print(text, highlight=False, soft_wrap=True, markup=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def line(self, e: Event) -> str:
        """The plain line for an event: 'stylize: iteration 12/256 (4%), loss ..., ETA 1m40s'."""
        head = f"{self.label}: {e.subject}: " if e.subject else f"{self.label}: "
        pct = f" ({100 * e.done // e.total}%)" if e.total else ""
        said = e.describe()
        return f"{head}{NOUN[e.scope]} {e.done}/{e.total}{pct}{', ' + said if said else ''}, ETA {duration(e.remaining())}"

    # ------------------------------------------------------------------------------------------------ internals
    def _worth_a_line(self, e: Event) -> bool:
        if e.kind == "progress":  # iterations and steps: about LINES lines a run, and the first after a resume
            return e.done % max(1, e.total // self.LINES) == 0 or e.done >= e.total or e.done == e.resumed + 1
        return e.kind in ("done", "failed", "elsewhere", "missing", "ready", "lost") or (e.kind == "start" and e.scope == "cell")

    def _task(self, scope: str, subject: str, total: int, eta: float | None = None) -> TaskID:
        key = (scope, subject)
        if key not in self.tasks:
            assert self.bar is not None
            name = f"{self.label} {subject}" if subject else (self.label if not self.tasks else NOUN[scope])
            self.tasks[key] = self.bar.add_task(name, total=max(total, 1), eta=eta,
                                                **{f"p{i}": "" for i in range(PARTS)})
        return self.tasks[key]

    def _draw(self, e: Event) -> None:
        assert self.bar is not None
        task = self._task(e.scope, e.subject, e.total)
        parts = e.describe().split(", ")
        parts = [*parts[:PARTS - 1], ", ".join(parts[PARTS - 1:])] if len(parts) > PARTS else parts
        fields = {f"p{i}": (parts[i] if i < len(parts) else "") for i in range(PARTS)}
        self.bar.update(task, completed=e.done, total=max(e.total, 1), eta=e.remaining(), **fields)
        if e.kind in ("failed", "ready", "lost") or (e.kind == "start" and e.scope == "cell" and e.done < e.total):
            self.say(self.line(e))
        if e.subject and e.finished:
            self.bar.update(task, visible=False)  # a sweep's run or a worker's part: its bar goes when it ends
