"""Setting a shot up on disk: `impasto shot init` and `version-up`, and the checks they make on the files.

Unlike `impasto.shot.config` (the shot file's models), this module reads the disk: it globs plate frames, counts a
movie's pictures, decodes style images and mattes, probes the output folder and writes the shot file, so that a
shot that cannot render is refused when it is made, not on the farm.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from impasto.errors import UsageError, validation_sentence
from impasto.files import output_folder_problem
from impasto.io.images import read_pixels, to_rgb
from impasto.io.mattes import fit_matte, is_pattern, matte_path, read_matte
from impasto.io.sequence import (
    DEFAULT_FIRST_FRAME,
    FramePattern,
    count_text,
    existing_frames,
    format_frame_range,
    is_movie,
    movie_frame_count,
    movie_info,
    parse_frame_range,
    single_frame_file,
)
from impasto.look import Look, RegionSpec, load_look
from impasto.objective.objective import blend_weights
from impasto.objective.regions import missing_mattes
from impasto.shot.config import (
    Shot,
    colour_names,
    default_input_space,
    invalid_shot_sentence,
    load_shot,
    save_shot,
)


def _relative(path: str | os.PathLike, to: Path) -> str:
    """`path` (given relative to the working folder) written relative to the shot file's folder."""
    p = Path(path)
    if p.is_absolute():
        return str(p)
    try:
        return os.path.relpath(Path.cwd() / p, to.absolute())
    except ValueError:  # another drive on Windows
        return str((Path.cwd() / p).absolute())


class SingleFramePlate(UsageError):
    """`--plate plates/p.1001.exr` without --frames: one file of a sequence named; was the sequence meant?"""

    def __init__(self, plate: str, pattern: FramePattern, frame: int, on_disk: list[int]) -> None:
        self.plate, self.pattern, self.frame, self.on_disk = plate, pattern, frame, on_disk
        held = f" (frames {format_frame_range(on_disk)} are on disk)" if len(on_disk) > 1 else ""
        super().__init__(
            f"'{plate}' is one frame of the sequence '{pattern}'{held}: pass --frames {frame} to paint that frame "
            f"alone, or --plate '{pattern}' for the sequence."
        )


def _plate_and_frames(plate: str, frames: str | None, first_frame: int | None) -> tuple[str, str]:
    """The plate as the shot file keeps it (one numbered file becomes its sequence's pattern, once frames say
    which) and the frame range (default: the frames on disk; a movie's length from its first frame)."""
    if is_movie(plate):
        first = DEFAULT_FIRST_FRAME if first_frame is None else first_frame
        count = movie_frame_count(plate)
        if count <= 0:
            raise UsageError(f"Movie '{plate}' holds no frames impasto can count; pass --frames.")
        last = first + count - 1
        if frames is None:
            return plate, f"{first}-{last}"
        wanted = parse_frame_range(frames)
        if wanted[-1] < first or wanted[0] > last:
            raise UsageError(
                f"Frames {frames} are not in movie '{plate}', which numbered from {first} holds {first}-{last} "
                f"({count_text(count)}); pass --frames within that, or --first-frame to number it otherwise."
            )
        early = [f for f in wanted if f < first]
        if early:
            raise UsageError(
                f"Frames {format_frame_range(early)} come before the first frame of movie '{plate}', which numbered "
                f"from {first} holds {first}-{last}; pass --first-frame to number it otherwise."
            )
        return plate, frames
    if first_frame is not None:
        raise UsageError("--first-frame numbers a movie's pictures; a sequence's frames are numbered by its files.")
    single = single_frame_file(plate)
    if single is not None:
        pattern, frame = single
        on_disk = pattern.frames_on_disk()
        if frames is None and on_disk:
            raise SingleFramePlate(plate, pattern, frame, on_disk)
        plate = pattern.hashes
    if frames is None:
        on_disk = FramePattern(plate).frames_on_disk()
        if not on_disk:
            raise UsageError(f"No frames of '{plate}' were found; check the pattern (one # per digit) or pass --frames.")
        frames = format_frame_range(on_disk)
    return plate, frames


def check_look(shot: Shot) -> None:
    """What render would find wrong with the look, found now: style images that do not decode (truncated,
    not an image), blend weights that do not fit the styles, an init image that is not there."""
    look, styles = shot.resolved_look()
    for s in styles:
        pixels, spec, _ = read_pixels(s, "Style image")
        to_rgb(pixels, list(spec.channelnames), source=f"style image '{s}'")
    blend_weights(look.style_weights, len(styles))
    for r in look.regions:
        for s in r.styles or []:
            if not Path(s).is_file():
                raise UsageError(f"Style image '{s}' of region '{r.name}' does not exist.")
            pixels, spec, _ = read_pixels(s, "Style image")
            to_rgb(pixels, list(spec.channelnames), source=f"style image '{s}'")
    if look.init not in ("content", "noise") and not (Path(look.init).is_file() or shot.resolve(look.init).is_file()):
        raise UsageError(f"The look's init image '{look.init}' does not exist.")


def init_warnings(shot: Shot) -> list[str]:
    """What `shot init` warns about without refusing: plate frames of the range that are not there."""
    frames = shot.frame_list()
    if shot.plate_is_movie:
        last = shot.movie_first_frame + movie_frame_count(shot.plate_path()) - 1
        missing = [f for f in frames if f > last]
        where = f"past the end of movie '{shot.plate}' (its last frame is {last})"
    else:
        _, missing = existing_frames(shot.plate_pattern(), frames)
        where = f"missing from '{shot.plate}'"
    warnings = _matte_warnings(shot, frames)
    if not missing:
        return warnings
    return warnings + [f"plate frames {format_frame_range(missing)} ({len(missing)} of {count_text(len(frames))}) are {where}; "
            "impasto render paints the others, records these as missing and exits 1 until they are there"]


def _matte_warnings(shot: Shot, frames: list[int]) -> list[str]:
    """Regions whose matte frames are missing in the shot's range (the render fails those frames until they are there)."""
    look, _ = shot.resolved_look()
    out = []
    for name, gone in missing_mattes(look, frames).items():
        matte = next(r.matte for r in look.regions if r.name == name)
        shown = os.path.relpath(matte) if Path(matte).is_relative_to(Path.cwd()) else matte
        out.append(f"matte frames {format_frame_range(gone)} ({len(gone)} of {count_text(len(frames))}) of region "
                   f"'{name}' are missing from '{shown}'; impasto render fails those frames until they are there")
    return out


def check_mattes(shot: Shot) -> None:
    """Refuse, in one sentence, a region whose matte (its first frame there) has another aspect than the plate's,
    and a region on the plate's alpha when the plate has none. Movie plates have no alpha and are not checked here."""
    look, _ = shot.resolved_look()
    if not look.regions or shot.plate_is_movie:
        return
    pattern = shot.plate_pattern()
    there, _ = existing_frames(pattern, shot.frame_list())
    present = sorted(there)
    if not present:
        return
    _, plate_spec, _ = read_pixels(there[present[0]], "Plate frame")
    pw, ph = plate_spec.width, plate_spec.height
    for r in look.regions:
        if r.matte == "alpha":
            if plate_spec.alpha_channel < 0 and "A" not in list(plate_spec.channelnames):
                raise UsageError(f"Region '{r.name}' uses the plate's alpha as its matte, but plate frame {present[0]} "
                                 "has no alpha channel; give a matte image.")
            continue
        frame = next((n for n in present if matte_path(r.matte, n if is_pattern(r.matte) else None).is_file()), None)
        if frame is None:
            continue  # every frame missing: init warns, render fails them
        matte = read_matte(r.matte, r.channel, frame if is_pattern(r.matte) else None)
        what = f"matte frame {frame} of region '{r.name}'" if is_pattern(r.matte) else f"matte of region '{r.name}'"
        fit_matte(matte, (ph, pw), what)


# The keys of init_shot's `matte`: a RegionSpec's, as `shot init --matte ...` gives them.
MATTE_KEYS = ("matte", "u", "styles", "channel", "feather")


def region_from_options(look: Look | None, matte: Mapping[str, Any], to: Path) -> RegionSpec:
    """`shot init --matte ...` (`matte`: MATTE_KEYS, None for unset) as one [[regions]] entry, its paths relative to
    the shot file's folder `to`; named 'matte' (matte2, ... when the look has a region of that name)."""
    taken = {r.name for r in look.regions} if look is not None else set()
    name, i = "matte", 1
    while name in taken:
        i += 1
        name = f"matte{i}"
    data: dict = {k: v for k, v in matte.items() if v is not None and v != "" and v != []}
    data["name"] = name
    if data["matte"] != "alpha":
        data["matte"] = _relative(data["matte"], to)
    if "styles" in data:
        data["styles"] = [_relative(s, to) for s in data["styles"]]
    try:
        return RegionSpec.model_validate(data)
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc, "--matte", whole="region").replace("--matte u:", "--matte-u:")
                         .replace("--matte feather:", "--matte-feather:")) from None


def init_shot(
    name: str,
    plate: str,
    frames: str | None = None,
    look_file: str | os.PathLike | None = None,
    *,
    shot_file: str | os.PathLike | None = None,
    styles: Sequence[str | os.PathLike] | None = None,
    first_frame: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    matte: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> tuple[Path, Shot]:
    """Write `<name>.toml` (or `shot_file`) for a plate; paths given relative to the working folder.

    Without `frames`, a sequence's range is the frames on disk and a movie's is its length from `first_frame`
    (default 1001). `settings` sets the shot file's sections, e.g. `{"render": {"scale": 0.5}, "output":
    {"folder": "out"}}`: what it leaves out or gives as None keeps the `Shot` model's default (the colour space:
    `default_input_space` of the plate; output.folder is a path relative to the working folder too). Checks what
    can be checked now: the plate exists, the look loads and its style images decode, the colour space is known,
    the output folder can be made. One numbered file (`plates/p.1001.exr`) without `frames` raises
    `SingleFramePlate`, which asks whether the sequence was meant. `matte` (MATTE_KEYS: the matte, an image, a frame
    pattern following the plate's numbers, or 'alpha'; u, default the look's; styles; channel; feather) adds a
    [[regions]] entry; a matte of another aspect than the plate is refused, missing matte frames are warned about
    by `init_warnings`.
    """
    path = Path(shot_file) if shot_file else Path(f"{name}.toml")
    if path.exists() and not overwrite:
        raise UsageError(f"Shot file '{path}' already exists; edit it, or pass --overwrite to replace it.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Folder '{folder}' for the shot file does not exist.")
    if is_movie(plate) and not Path(plate).is_file():
        raise UsageError(f"Movie '{plate}' does not exist.")
    if matte is not None and matte.get("matte") is None:
        if matte.get("u") is not None or matte.get("styles") or matte.get("channel") or matte.get("feather"):
            raise UsageError("--matte-u, --matte-style, --matte-channel and --matte-feather describe a matte; give it with --matte.")
        matte = None
    plate, frames = _plate_and_frames(plate, frames, first_frame)
    sections = {section: {k: v for k, v in values.items() if v is not None} for section, values in (settings or {}).items()}
    sections.setdefault("colour", {}).setdefault("input_space", default_input_space(plate))
    if "folder" in sections.get("output", {}):
        sections["output"]["folder"] = _relative(sections["output"]["folder"], folder)
    data: dict = {
        "name": name,
        "plate": _relative(plate, folder),
        "first_frame": (DEFAULT_FIRST_FRAME if first_frame is None else first_frame) if is_movie(plate) else None,
        "frames": frames,
        **sections,
    }
    if look_file is not None:
        data["look_file"] = _relative(look_file, folder)
    else:
        if not styles:
            raise UsageError("Give a look file with --look (made by impasto look), or style images with --style.")
        data["look"] = {}
    if styles:
        data["styles"] = [_relative(s, folder) for s in styles]
    if is_movie(plate):
        # The review movie runs at the plate's own rate (23.976 is written as 24000/1001 by the review).
        fps = movie_info(plate).fps
        if 0 < fps <= 240:
            data["review"] = {"fps": round(fps, 6), **sections.get("review", {})}
    if matte is not None:
        inline = Look.model_validate(data["look"]) if "look" in data else None
        lf_look = load_look(look_file).look if look_file is not None else inline
        data["regions"] = [region_from_options(lf_look, matte, folder).model_dump(mode="json")]
    data = {k: v for k, v in data.items() if v is not None}
    try:
        shot = Shot.model_validate(data)
    except ValidationError as exc:
        raise UsageError(invalid_shot_sentence(path, exc)) from None
    shot._root = folder.absolute()
    # Fail now, not on the farm: the plate is there, the look, its style images and colour settings resolve,
    # and the output folder can be made.
    if not shot.plate_is_movie:
        present, _ = existing_frames(shot.plate_pattern(), shot.frame_list())
        if not present:
            raise UsageError(f"None of frames {frames} of '{plate}' exist; check the pattern (one # per digit) and the range.")
    check_look(shot)
    check_mattes(shot)
    colour_names(shot)
    problem = output_folder_problem(shot.output_folder())
    if problem:
        raise UsageError(problem)
    save_shot(path, shot)
    return path, shot


def version_up(path: str | os.PathLike) -> tuple[Shot, int, int]:
    """Move the shot file to the next free version (one with no frames or manifest yet); (shot, old, new)."""
    shot = load_shot(path)
    old = shot.output.version
    new = old + 1
    while new <= 999 and (shot.manifest_path(new).exists() or shot.output_pattern(new).frames_on_disk()):
        new += 1
    if new > 999:
        raise UsageError(f"Shot '{shot.name}' has no free version left below 1000.")
    shot.output.version = new
    save_shot(path, shot)
    return shot, old, new
