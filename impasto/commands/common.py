"""Pieces every command shares: the app, error handling, option parsing, progress display."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from impasto.version import __version__
from impasto.errors import ImpastoError, UsageError
from impasto.look import Look

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
    from rich.markup import escape

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


def make_look(**fields: object) -> Look:
    from pydantic import ValidationError

    from impasto.errors import validation_sentence

    try:
        return Look(**fields)
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc)) from None


class ProgressReporter:
    """A rich progress bar on a terminal; a plain line every few iterations otherwise (logs, farms)."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self.every = max(1, total // 20)
        self.label = label
        self.bar: Progress | None = None
        if self.tty:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]} (content {task.fields[content]}, style {task.fields[style]})"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=err,
            )
            self.task = self.bar.add_task(label, total=total, loss="-", content="-", style="-", rate="")

    def __enter__(self) -> "ProgressReporter":
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def __call__(self, p) -> None:
        rate = p.iteration / p.elapsed if p.elapsed > 0 else 0.0
        if self.bar:
            self.bar.update(self.task, completed=p.iteration, loss=f"{p.loss:.3e}", content=f"{p.content:.2e}",
                            style=f"{p.style:.2e}", rate=f"{rate:.2f} it/s")
        elif p.iteration % self.every == 0 or p.iteration == p.iterations:
            eta = (p.iterations - p.iteration) / rate if rate else 0.0
            print(f"{self.label}: iteration {p.iteration}/{p.iterations} loss {p.loss:.4e} content {p.content:.3e} "
                  f"style {p.style:.3e} {rate:.2f} it/s ETA {eta:.0f}s", file=sys.stderr, flush=True)


