"""`impasto shot init` / `impasto shot version-up`: shot files (TOML) that say what to render and how."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from impasto.commands.common import app, err, fail
from impasto.commands.render import _rel
from impasto.errors import ImpastoError
from impasto.io.sequence import DEFAULT_FIRST_FRAME, count_text, format_frame_range
from impasto.shot.config import Shot, SingleFramePlate, colour_names, init_shot, init_warnings
from impasto.shot.config import version_up as bump

shot_app = typer.Typer(help="Create shot files and move them to a new version.", no_args_is_help=True)
app.add_typer(shot_app, name="shot")


@shot_app.command("init")
def init(
    name: str = typer.Argument(..., help="Shot name, e.g. cs010; the shot file is NAME.toml.", show_default=False),
    plate: str = typer.Option(..., "--plate", help="Plate frames, e.g. 'plates/cs010_plate.####.exr' (one # per digit, or %04d), or a movie file; one numbered file (plate.1001.exr) without --frames asks whether its sequence was meant.", show_default=False),
    frames: Optional[str] = typer.Option(None, "--frames", help="Frame range, e.g. 1001-1100; for a movie, in its numbering from --first-frame (1040 is its picture 39 from 1001). (default: the frames on disk; a movie's whole length)"),
    first_frame: Optional[int] = typer.Option(None, "--first-frame", help=f"The number a movie plate's first picture gets; --frames selects from this numbering. (default: {DEFAULT_FIRST_FRAME})", show_default=False),
    look: Optional[Path] = typer.Option(None, "--look", help="Look file (from impasto look save)."),
    style: Optional[list[Path]] = typer.Option(None, "--style", help="Style image (repeat for several); with --look it replaces the look's styles."),
    colourspace: Optional[str] = typer.Option(None, "--colourspace", "--colorspace", help="The plate's colour space in the OCIO config. (default: ACEScg for EXR, sRGB Encoded Rec.709 (sRGB) for other images and movies)"),
    display: Optional[str] = typer.Option(None, help="OCIO display. (default: the config's)"),
    view: Optional[str] = typer.Option(None, help="OCIO view. (default: the config's; plain for sRGB-encoded plates)"),
    scale: float = typer.Option(1.0, help="Paint at this fraction of the plate's size, then upscale back (0.5 = the paper's ×2 upscale)."),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", help="Folder for painted frames and the manifest. (default: render/ beside the shot file)"),
    denoise: str = typer.Option("none", help="Denoise after the upscale: none, bilateral, nl_means or tv."),
    strength: float = typer.Option(0.5, help="Denoise strength, 0-1."),
    head: Optional[str] = typer.Option(None, help="Dissolve in from the plate over these frames, e.g. 1001-1012."),
    tail: Optional[str] = typer.Option(None, help="Dissolve out to the plate over these frames, e.g. 1089-1100."),
    curve: str = typer.Option("linear", help="Dissolve curve: linear or smoothstep."),
    boil: float = typer.Option(0.0, "--boil", min=0.0, max=1.0, help="temporal.boil: 0 paints every frame on its own (the strokes boil), 1 holds each frame to the previous painted one along the plate's motion (steady)."),
    chunk: Optional[int] = typer.Option(None, "--chunk", min=1, help="temporal.chunk: frames per chunk at boil above 0; each chunk's first frame is a keyframe painted first, and chunks render in parallel. (default: 12)"),
    matte: Optional[str] = typer.Option(None, "--matte", help="A region painted with its own u: a matte image, a frame pattern following the plate's frame numbers (e.g. 'mattes/cs010_fg.####.exr'), or 'alpha' for the plate's own alpha; written into the shot file's regions list (the look file is left as it is).", show_default=False),
    matte_u: Optional[float] = typer.Option(None, "--matte-u", help="u inside the matte. (default: the look's u)", show_default=False),
    matte_style: Optional[list[Path]] = typer.Option(None, "--matte-style", help="Style image inside the matte (repeat for several). (default: the look's)", show_default=False),
    matte_channel: Optional[str] = typer.Option(None, "--matte-channel", help="The matte's channel, e.g. A, R or an EXR layer's fg.A. (default: the only channel, else A, else R)", show_default=False),
    matte_feather: float = typer.Option(0.0, "--matte-feather", min=0.0, help="Soften the matte's edge over about this many px of the painted frame."),
    shot_file: Optional[Path] = typer.Option(None, "-o", "--output", help="Shot file to write. (default: NAME.toml here)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing shot file."),
) -> None:
    """Write a shot file for a plate and a look; the plate, look, style images and output folder are checked now."""
    options = {"shot_file": shot_file, "styles": [str(s) for s in style] if style else None, "input_space": colourspace,
               "display": display, "view": view, "scale": scale, "output_folder": output_dir, "denoise": denoise,
               "strength": strength, "head": head, "tail": tail, "curve": curve, "first_frame": first_frame,
               "boil": boil, "chunk": chunk, "matte": matte, "matte_u": matte_u,
               "matte_styles": [str(s) for s in matte_style] if matte_style else None, "matte_channel": matte_channel,
               "matte_feather": matte_feather,
               "overwrite": overwrite}
    try:
        try:
            path, shot = init_shot(name, plate, frames, look, **options)
        except SingleFramePlate as single:
            plate, frames = _ask_sequence(single)
            path, shot = init_shot(name, plate, frames, look, **options)
        names = colour_names(shot)
        warnings = init_warnings(shot)
    except ImpastoError as exc:
        fail(exc)
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
    try:
        shot, old, new = bump(shot_file)
    except ImpastoError as exc:
        fail(exc)
    err.print(f"{shot.name}: version {old:03d} -> {new:03d}; impasto render {shot_file} writes {_rel(shot.output_pattern())}",
              highlight=False, soft_wrap=True)
