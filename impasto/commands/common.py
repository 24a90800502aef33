"""Pieces every command shares: the app, error handling, option parsing, progress display."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional, Self, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from impasto.errors import ImpastoError, UsageError, validation_sentence
from impasto.look import Look
from impasto.version import __version__

app = typer.Typer(
    help="Turn film frames into paintings with neural style transfer, the way Come Swim did it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)  # messages stay one line each: logs and tests grep them
_F = Look.model_fields


def _help(name: str) -> str:
    return _F[name].description or ""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"impasto {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Turn film frames into paintings with neural style transfer, the way Come Swim did it."""


def fail(exc: ImpastoError) -> None:
    # Escaped: messages name paths and extras like impasto[cluster], which rich would take for markup.
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def parse_floats(text: Optional[str], what: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be numbers separated by commas, like 0.7,0.3.") from None


@contextmanager
def command_errors(interrupted: str | None = None, os_error: str | None = None) -> Iterator[None]:
    """A command's body: an ImpastoError is its one-sentence message and exit code; with `interrupted`, Ctrl+C
    prints that and exits 130; with `os_error`, an OSError is a UsageError `os_error` + ' (reason).'."""
    try:
        yield
    except ImpastoError as exc:
        fail(exc)
    except OSError as exc:
        if os_error is None:
            raise
        fail(UsageError(f"{os_error} ({exc.strerror or exc})."))
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        err.print(interrupted)
        raise typer.Exit(130) from None


Command = TypeVar("Command", bound=Callable[..., Any])


def shared_options(table: Mapping[str, tuple[Any, Any]], *names: str, after: str | None = None
                   ) -> Callable[[Command], Command]:
    """Declare options several commands share: `table` maps each name to its type and `typer.Option`; `names` (in
    the table's order) go after the command's parameter `after` (default: its last), and the command takes them as
    `**options`. Put it under `@app.command()`."""
    unknown = set(names) - set(table)
    if unknown:
        raise ValueError(f"no shared option {sorted(unknown)}")
    ordered = [n for n in table if n in names]

    def declare(command: Command) -> Command:
        kw = inspect.Parameter.KEYWORD_ONLY
        own = [p.replace(kind=kw) for p in inspect.signature(command, eval_str=True).parameters.values()
               if p.kind is not p.VAR_KEYWORD]
        at = len(own) if after is None else [p.name for p in own].index(after) + 1
        shared = [inspect.Parameter(n, kw, default=table[n][1], annotation=table[n][0]) for n in ordered]
        command.__signature__ = inspect.Signature([*own[:at], *shared, *own[at:]])  # typer reads this
        return command

    return declare


def make_look(**fields: object) -> Look:
    try:
        return Look(**fields)
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc)) from None


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
    """'ETA 0:01:23' from rich's estimate of the recent speed, or sooner when the task stops at a time limit (its
    field `deadline`, in the Progress's clock)."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        remaining = 0.0 if task.finished else task.time_remaining
        deadline = task.fields.get("deadline")
        if deadline is not None and not task.finished:
            left = max(0.0, deadline - task.get_time())
            remaining = left if remaining is None else min(remaining, left)
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


class BarReporter:
    """Progress as rich bars on a terminal (`self.bar`, shown while the `with` block runs); subclasses print plain
    lines instead when stderr is not a terminal (logs, farms)."""

    def __init__(self, *columns: object, timing: bool = True, console: Console | None = None) -> None:
        """`columns` go after the bar and the done/total count (mark with `optional` those a narrow terminal may
        leave out); then elapsed time (optional) and the ETA unless `timing` is False. `console`: where the bars
        go (default: stderr)."""
        self.tty = console.is_terminal if console is not None else sys.stderr.isatty()
        self.bar: Progress | None = None
        if self.tty:
            if timing:
                columns = (*columns, TimeElapsedColumn(), EtaColumn())
            self.bar = FittedProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      *columns, console=console or err)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()


class ProgressReporter(BarReporter):
    """A rich progress bar on a terminal; a plain line every few iterations otherwise (logs, farms)."""

    def __init__(self, total: int, label: str, console: Console | None = None) -> None:
        super().__init__(optional(TextColumn("loss {task.fields[loss]}"), 1),
                         optional(TextColumn("(content {task.fields[content]}, style {task.fields[style]})"), 4),
                         optional(TextColumn("{task.fields[rate]}"), 2), console=console)
        self.total = total
        self.every = max(1, total // 20)
        self.label = label
        if self.bar:
            self.task = self.bar.add_task(label, total=total, loss="-", content="-", style="-", rate="")

    def __call__(self, p) -> None:
        rate = p.iteration / p.elapsed if p.elapsed > 0 else 0.0
        if self.bar:
            self.bar.update(self.task, completed=p.iteration, loss=f"{p.loss:.3e}", content=f"{p.content:.2e}",
                            style=f"{p.style:.2e}", rate=f"{rate:.2f} it/s")
        elif p.iteration % self.every == 0 or p.iteration == p.iterations:
            eta = (p.iterations - p.iteration) / rate if rate else 0.0
            print(f"{self.label}: iteration {p.iteration}/{p.iterations} loss {p.loss:.4e} content {p.content:.3e} "
                  f"style {p.style:.3e} {rate:.2f} it/s ETA {eta:.0f}s", file=sys.stderr, flush=True)


