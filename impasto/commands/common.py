"""Pieces every command shares: the app, error handling, option parsing. (Progress display: commands.progress.)"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, Optional, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from impasto.errors import ImpastoError, UsageError, validation_sentence
from impasto.look import Look
from impasto.threads import ENV, CpuShare, fixed_threads
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


THREADS: dict[str, int | None] = {"threads": None}  # impasto --threads N: for the painting commands below


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    threads: Optional[int] = typer.Option(None, "--threads", help=f"CPU threads to paint with (also ${ENV}). (default: this process's share of the cores among the impasto processes painting on this machine now, rebalanced as they come and go)"),
) -> None:
    """Turn film frames into paintings with neural style transfer, the way Come Swim did it."""
    THREADS["threads"] = threads
    # A farm job (impasto farm export) pins the version every worker runs: another one stops before any work.
    wanted = os.environ.get("IMPASTO_REQUIRE_VERSION", "").strip()
    if wanted and wanted != __version__:
        fail(UsageError(f"This job needs impasto {wanted} and this machine runs impasto {__version__}: install "
                        f"impasto=={wanted} on every worker (or export the job again with this version)."))


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
def command_errors(interrupted: str | None = None, os_error: str | None = None, paints: bool = False) -> Iterator[None]:
    """A command's body: an ImpastoError is its one-sentence message and exit code; with `interrupted`, Ctrl+C
    prints that and exits 130; with `os_error`, an OSError is a UsageError `os_error` + ' (reason).'. A command
    that `paints` takes its share of the CPU threads (impasto.threads) while it runs."""
    try:
        with CpuShare(fixed_threads(THREADS["threads"])) if paints else nullcontext():
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
