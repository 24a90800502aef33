"""`impasto shot init` / `impasto shot version-up`: shot files (TOML) that say what to render and how."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, Optional, get_args, get_origin

import typer

from impasto.commands.common import app, command_errors, err
from impasto.commands.render import _rel
from impasto.io.sequence import DEFAULT_FIRST_FRAME, count_text, format_frame_range
from impasto.look import RegionSpec
from impasto.shot.config import (
    DEFAULT_DISPLAY_SPACE,
    ColourSettings,
    DissolveSettings,
    OutputSettings,
    PostSettings,
    RenderSettings,
    Shot,
    TemporalSettings,
    colour_names,
)
from impasto.shot.setup import SingleFramePlate, init_shot, init_warnings
from impasto.shot.setup import version_up as bump

shot_app = typer.Typer(help="Create shot files and move them to a new version.", no_args_is_help=True)
app.add_typer(shot_app, name="shot")


def _setting(section: str, field: str, *decls: str, help: str | None = None, extra: str = "", **kw: Any) -> Any:
    """A `shot init` option for the shot file's `section.field`: its default is the model's and its help the
    model's description (or `help`), led by the key it sets and followed by `extra` and a Literal's choices."""
    info = SECTIONS[section].model_fields[field]
    text = help or info.description or ""
    choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
    if choices:
        text += ("; " if text else "") + ", ".join(choices[:-1]) + f" or {choices[-1]}"
    text = f"{section}.{field}: {text}{extra}."
    return typer.Option(info.get_default(call_default_factory=True), *decls, help=text, **kw)


def _region(field: str, *decls: str, help: str, **kw: Any) -> Any:
    """A `shot init --matte-*` option, its default the [[regions]] entry's (RegionSpec) `field`'s."""
    return typer.Option(RegionSpec.model_fields[field].get_default(), *decls, help=help, **kw)


SECTIONS = {"colour": ColourSettings, "render": RenderSettings, "temporal": TemporalSettings, "output": OutputSettings,
            "post": PostSettings, "dissolve": DissolveSettings}
# shot init's options that set a shot-file setting: parameter -> (section, field).
SETTINGS = {"colourspace": ("colour", "input_space"), "display": ("colour", "display"), "view": ("colour", "view"),
            "scale": ("render", "scale"), "output_dir": ("output", "folder"), "denoise": ("post", "denoise"),
            "strength": ("post", "strength"), "head": ("dissolve", "head"), "tail": ("dissolve", "tail"),
            "curve": ("dissolve", "curve"), "boil": ("temporal", "boil"), "chunk": ("temporal", "chunk")}
# --matte and its --matte-* options: parameter -> the [[regions]] entry's field (setup.MATTE_KEYS).
MATTE = {"matte": "matte", "matte_u": "u", "matte_style": "styles", "matte_channel": "channel", "matte_feather": "feather"}
_OUTPUT = OutputSettings.model_fields["folder"].default
_SPACES = f"ACEScg for EXR, {DEFAULT_DISPLAY_SPACE} for other images and movies"


@shot_app.command("init")
def init(
    name: str = typer.Argument(..., help="Shot name, e.g. cs010; the shot file is NAME.toml.", show_default=False),
    plate: str = typer.Option(..., "--plate", help="Plate frames, e.g. 'plates/cs010_plate.####.exr' (one # per digit, or %04d), or a movie file; one numbered file (plate.1001.exr) without --frames asks whether its sequence was meant.", show_default=False),
    frames: Optional[str] = typer.Option(None, "--frames", help="Frame range, e.g. 1001-1100; for a movie, in its numbering from --first-frame (1040 is its picture 39 from 1001). (default: the frames on disk; a movie's whole length)"),
    first_frame: Optional[int] = typer.Option(Shot.model_fields["first_frame"].default, "--first-frame", help=f"The number a movie plate's first picture gets; --frames selects from this numbering. (default: {DEFAULT_FIRST_FRAME})", show_default=False),
    look: Optional[Path] = typer.Option(None, "--look", help="Look file (from impasto look save)."),
    style: Optional[list[Path]] = typer.Option(None, "--style", help="Style image (repeat for several); with --look it replaces the look's styles."),
    colourspace: Optional[str] = typer.Option(None, "--colourspace", "--colorspace", help=f"colour.input_space: the plate's colour space in the OCIO config. (default: {_SPACES})"),
    display: Optional[str] = _setting("colour", "display"),
    view: Optional[str] = _setting("colour", "view"),
    scale: float = _setting("render", "scale", extra=" (0.5 = the paper's ×2 upscale)"),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", help=f"output.folder: folder for painted frames and the manifest. (default: {_OUTPUT}/ beside the shot file)"),
    denoise: str = _setting("post", "denoise"),
    strength: float = _setting("post", "strength"),
    head: Optional[str] = _setting("dissolve", "head"),
    tail: Optional[str] = _setting("dissolve", "tail"),
    curve: str = _setting("dissolve", "curve"),
    boil: float = _setting("temporal", "boil", "--boil", min=0.0, max=1.0),
    chunk: int = _setting("temporal", "chunk", "--chunk", min=1, extra=" (at boil above 0)"),
    matte: Optional[str] = typer.Option(None, "--matte", help="A region painted with its own u: a matte image, a frame pattern following the plate's frame numbers (e.g. 'mattes/cs010_fg.####.exr'), or 'alpha' for the plate's own alpha; written into the shot file's regions list (the look file is left as it is).", show_default=False),
    matte_u: Optional[float] = _region("u", "--matte-u", help="u inside the matte. (default: the look's u)", show_default=False),
    matte_style: Optional[list[Path]] = _region("styles", "--matte-style", help="Style image inside the matte (repeat for several). (default: the look's)", show_default=False),
    matte_channel: Optional[str] = _region("channel", "--matte-channel", help="The matte's channel, e.g. A, R or an EXR layer's fg.A. (default: the only channel, else A, else R)", show_default=False),
    matte_feather: float = _region("feather", "--matte-feather", min=0.0, help="Soften the matte's edge over about this many px of the painted frame."),
    shot_file: Optional[Path] = typer.Option(None, "-o", "--output", help="Shot file to write. (default: NAME.toml here)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing shot file."),
) -> None:
    """Write a shot file for a plate and a look; the plate, look, style images and output folder are checked now."""
    given = locals()
    settings: dict[str, dict[str, Any]] = {}
    for option, (section, field) in SETTINGS.items():
        settings.setdefault(section, {})[field] = given[option]
    options = {"shot_file": shot_file, "styles": [str(s) for s in style] if style else None, "first_frame": first_frame,
               "settings": settings, "overwrite": overwrite,
               "matte": {field: [str(s) for s in given[o]] if o == "matte_style" and given[o] else given[o]
                         for o, field in MATTE.items()}}
    with command_errors():
        try:
            path, shot = init_shot(name, plate, frames, look, **options)
        except SingleFramePlate as single:
            plate, frames = _ask_sequence(single)
            path, shot = init_shot(name, plate, frames, look, **options)
        names = colour_names(shot)
        warnings = init_warnings(shot)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}.", highlight=False, soft_wrap=True)
    err.print(
        f"wrote {path}: {shot.name} frames {shot.frames} ({_count(shot)}), {names['colour_space']} through "
        f"{names['display']} / {names['view']}, version {shot.output.version:03d}"
        f"{f', boil {shot.temporal.boil:g} in chunks of {shot.temporal.chunk}' if shot.temporal.boil else ''}"
        f"{_regions(shot)}"
        f" -> {_rel(shot.output_pattern())}",
        highlight=False, soft_wrap=True,
    )


def _regions(shot: Shot) -> str:
    """', matte mattes/fg.####.exr at u 2' for each of the shot's own regions."""
    parts = []
    for r in shot.regions:
        u = f"u {r.u:g}" if r.u is not None else "the look's u"
        styles = f" with {', '.join(Path(s).name for s in r.styles)}" if r.styles else ""
        parts.append(f", region '{r.name}' ({r.matte}) at {u}{styles}")
    return "".join(parts)


def _count(shot: Shot) -> str:
    """'6 frames' and, for a movie, which of its pictures they are: 'pictures 39-44 of Megamind.avi'."""
    frames = shot.frame_list()
    text = count_text(len(frames))
    if shot.plate_is_movie:
        indices = format_frame_range([shot.source_index(f) for f in frames])
        text += f"; movie pictures {indices} of {Path(shot.plate).name}, numbered from {shot.movie_first_frame}"
    return text


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask_sequence(single: SingleFramePlate) -> tuple[str, str]:
    """One numbered file given as the plate: ask (at a terminal) whether its whole sequence was meant; elsewhere
    the question stands as the error sentence. Returns (plate, frames)."""
    if not _interactive():
        raise single
    held = format_frame_range(single.on_disk) or str(single.frame)
    whole = typer.confirm(f"'{single.plate}' is frame {single.frame} of the sequence '{single.pattern}' "
                          f"(frames {held} on disk). Paint the whole sequence?", default=False)
    return single.pattern.hashes, held if whole else str(single.frame)


@shot_app.command("version-up")
def version_up(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml).", show_default=False),
) -> None:
    """Move the shot to its next version, so a new look renders beside the old frames instead of over them."""
    with command_errors():
        shot, old, new = bump(shot_file)
    err.print(f"{shot.name}: version {old:03d} -> {new:03d}; impasto render {shot_file} writes {_rel(shot.output_pattern())}",
              highlight=False, soft_wrap=True)
