"""`impasto look save` / `impasto look show`: looks as TOML files any command can read with --look."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from impasto.errors import ImpastoError, UsageError
from impasto.commands.common import app, err, fail
from impasto.commands.look_options import (
    INIT_OPT, ITERATIONS_OPT, K_OPT, LOOK_OPT, LR_OPT, NETWORK_OPT, OPTIMIZER_OPT, POOLING_OPT, PRESERVE_COLOR_OPT,
    RAW_RATIO_OPT, SEED_OPT, SIZE_OPT, STYLE_SCALE_OPT, STYLE_WEIGHTS_OPT, TV_WEIGHT_OPT, U_OPT, WEIGHTS_OPT,
    explicit_values, resolve_look,
)

look_app = typer.Typer(help="Save and inspect look files (TOML).", no_args_is_help=True)
app.add_typer(look_app, name="look")


@look_app.command("save")
def save(
    path: Path = typer.Argument(..., help="Look file to write (.toml).", show_default=False),
    content: Optional[Path] = typer.Argument(None, help="Content frame the look is developed on.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="Style images, in blend order.", show_default=False),
    look: Optional[Path] = LOOK_OPT,
    u: float = U_OPT,
    iterations: int = ITERATIONS_OPT,
    size: int = SIZE_OPT,
    style_weights: Optional[str] = STYLE_WEIGHTS_OPT,
    network: str = NETWORK_OPT,
    weights: Optional[Path] = WEIGHTS_OPT,
    seed: Optional[int] = SEED_OPT,
    optimizer: str = OPTIMIZER_OPT,
    lr: Optional[float] = LR_OPT,
    init: str = INIT_OPT,
    pooling: str = POOLING_OPT,
    style_scale: float = STYLE_SCALE_OPT,
    k: float = K_OPT,
    raw_ratio: bool = RAW_RATIO_OPT,
    tv_weight: float = TV_WEIGHT_OPT,
    preserve_color: str = PRESERVE_COLOR_OPT,
) -> None:
    """Write a look file with the same options as stylize (start from --look and change some)."""
    from impasto.look import save_look
    from impasto.features.weights import load_weights

    params = dict(locals())
    try:
        if path.suffix.lower() != ".toml":
            raise UsageError(f"A look file is TOML; name it with .toml, not '{path.name}'.")
        explicit = explicit_values(params)
        for name in ("content", "styles"):
            if name in explicit:
                explicit[name] = _absolute(explicit[name])
        record = resolve_look(look, explicit)
        if record.weights_origin is None or {"network", "weights"} & set(explicit):
            try:
                record.weights_origin = load_weights(record.look.network, record.look.weights).origin
            except ImpastoError:
                record.weights_origin = None  # a look can be written on a machine without the weights
        save_look(path, record)
    except ImpastoError as exc:
        fail(exc)
    err.print(f"wrote {path} (u {record.look.u:g}, k {record.look.k:g}, {record.look.iterations} iterations, "
              f"{record.look.size} px)", highlight=False)


@look_app.command("show")
def show(path: Path = typer.Argument(..., help="Look file to read.", show_default=False)) -> None:
    """Validate a look file and print it with the ratio it gives at its size."""
    from impasto.objective.controls import style_ratio
    from impasto.look import load_look

    try:
        record = load_look(path)
    except ImpastoError as exc:
        fail(exc)
    lk = record.look
    typer.echo(f"content: {record.content or '-'}")
    typer.echo(f"styles: {', '.join(record.styles) or '-'}")
    typer.echo(f"weights origin: {record.weights_origin or '-'}")
    for name, value in lk.model_dump().items():
        typer.echo(f"{name}: {value}")
    typer.echo(f"ratio at {lk.size} px: {style_ratio(lk.u, lk.size, lk.k, lk.raw_ratio):.4g}")


def _absolute(value):
    if isinstance(value, list):
        return [str(Path(v).resolve()) for v in value]
    return str(Path(value).resolve())
