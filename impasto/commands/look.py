"""`impasto look save` / `impasto look show`: looks as TOML files any command can read with --look."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import tomli_w
import typer

from impasto.commands.common import app, command_errors, err
from impasto.commands.look_options import (
    MATTE_OPTIONS,
    STYLE_OPTIONS,
    explicit_values,
    look_options,
    resolve_look,
    with_matte,
)
from impasto.errors import ImpastoError, UsageError
from impasto.features.weights import load_weights
from impasto.look import Look, load_look, save_look
from impasto.objective.controls import style_ratio

look_app = typer.Typer(help="Save and inspect look files (TOML).", no_args_is_help=True)
app.add_typer(look_app, name="look")


@look_app.command("save")
@look_options("look", "u", "iterations", "size", "style_weights", "network", "weights", "seed", *STYLE_OPTIONS,
              *MATTE_OPTIONS)
def save(
    path: Path = typer.Argument(..., help="Look file to write (.toml).", show_default=False),
    content: Optional[Path] = typer.Argument(None, help="Content frame the look is developed on.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="Style images, in blend order.", show_default=False),
    **options: Any,
) -> None:
    """Write a look file with the same options as stylize (start from --look and change some)."""
    with command_errors():
        if path.suffix.lower() != ".toml":
            raise UsageError(f"A look file is TOML; name it with .toml, not '{path.name}'.")
        explicit = explicit_values({"content": content, "styles": styles, **options})
        for name in ("content", "styles"):
            if name in explicit:
                explicit[name] = _absolute(explicit[name])
        record = with_matte(resolve_look(options["look"], explicit), options)
        if record.weights_origin is None or {"network", "weights"} & set(explicit):
            try:
                record.weights_origin = load_weights(record.look.network, record.look.weights).origin
            except ImpastoError:
                record.weights_origin = None  # a look can be written on a machine without the weights
        save_look(path, record)
    regions = "".join(f", {r.name} u {record.look.u if r.u is None else r.u:g}" for r in record.look.regions)
    err.print(f"wrote {path} (u {record.look.u:g}{regions}, k {record.look.k:g}, {record.look.iterations} iterations, "
              f"{record.look.size} px)", highlight=False)


@look_app.command("show")
def show(path: Path = typer.Argument(..., help="Look file to read.", show_default=False)) -> None:
    """Validate a look file and print it with the ratio it gives at its size."""
    with command_errors():
        record = load_look(path)
    lk = record.look
    typer.echo(f"content: {record.content or '-'}")
    typer.echo(f"styles: {', '.join(record.styles) or '-'}")
    typer.echo(f"weights origin: {record.weights_origin or '-'}")
    for name, value in lk.model_dump(mode="json").items():
        if name != "regions":
            typer.echo(f"{name}: {toml_value(value)}")
    typer.echo(f"ratio at {lk.size} px: {style_ratio(lk.u, lk.size, lk.k, lk.raw_ratio):.4g}")
    for line in region_lines(lk):
        typer.echo(line)


def region_lines(look: Look) -> list[str]:
    """One line per region, as written in the look file (paths relative to it): name, matte, channel, u, styles,
    feather (and invert, style weights when set)."""
    lines = []
    for r in look.regions:
        u = f"{r.u:g}" if r.u is not None else f"{look.u:g} (the look's)"
        styles = ", ".join(r.styles) if r.styles else "the look's"
        weights = f" (weights {toml_value(r.style_weights)})" if r.style_weights else ""
        lines.append(f"region {r.name}: matte {r.matte}{' (inverted)' if r.invert else ''}, channel "
                     f"{r.channel or 'auto'}, u {u}, styles {styles}{weights}, feather {r.feather:g} px")
    return lines


def toml_value(value: Any) -> str:
    """A value as a look file writes it (false, "vgg16", [0.7, 0.3]); '-' for one left unset (TOML has no null)."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return f"[{', '.join(toml_value(v) for v in value)}]"
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]


def _absolute(value):
    if isinstance(value, list):
        return [str(Path(v).resolve()) for v in value]
    return str(Path(value).resolve())
