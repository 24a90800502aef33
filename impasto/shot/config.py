"""A shot file (TOML): which plate, which frames, which look, how to paint, post and write them.

The pydantic models of the file (`Shot` and its sections), `load_shot` / `save_shot`, and what a loaded shot
answers about itself: its paths resolved, its look with the shot's regions, its colour names, its output
folder made when a render starts. Setting a shot up (`shot init`'s globbing of plate frames, decoding of style
images and mattes, probing of folders; `version-up`) lives in `impasto.shot.setup`.

Relative paths in a shot file are relative to the shot file's folder, so a shot renders the same from
anywhere (a farm node, another working directory). The output version is part of the file: a render writes
only into that version, and `impasto shot version-up` moves to the next.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Literal

import fileseq
import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from impasto.errors import UsageError, validation_sentence
from impasto.files import atomic_write_text, output_folder_problem, read_toml
from impasto.io.ocio import get_config
from impasto.io.sequence import DEFAULT_FIRST_FRAME, FramePattern, is_movie, movie_source_index, parse_frame_range
from impasto.look import Look, RegionSpec, load_look
from impasto.shot.post import dissolve_weight
from impasto.shot.temporal_settings import TemporalSettings

SHOT_SCHEMA_VERSION = 1
DEFAULT_OUTPUT_PATTERN = "{shot}_paint_v{version}.####.exr"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Plates that hold display pictures rather than scene-linear light: assumed sRGB-encoded unless the shot says.
_DISPLAY_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx"}
DEFAULT_LINEAR_SPACE = "ACEScg"
DEFAULT_DISPLAY_SPACE = "sRGB Encoded Rec.709 (sRGB)"


class ColourSettings(BaseModel):
    """How plate pixels become the display-referred 0-1 picture the network sees, and back."""

    model_config = ConfigDict(extra="forbid")

    input_space: str = Field(DEFAULT_LINEAR_SPACE, description="the plate's colour space (a name, alias or role of the OCIO config)")
    display: str | None = Field(None, description="OCIO display (default: the config's default display)")
    view: str | None = Field(None, description="OCIO view (default: the config's; plain for display-encoded plates)")
    config: str | None = Field(None, description="OCIO config file (default: $OCIO, else OCIO's built-in ACES studio config)")
    alpha: Literal["premultiplied", "straight"] = Field("premultiplied", description="how the plate's colour relates to its alpha")


class RenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: float = Field(1.0, gt=0, le=1, description="paint at this fraction of the plate's size, then upscale back (Lanczos) to line up")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    from_previous: bool = Field(False, description="start each frame from the previous painted frame (steadier, frames depend on each other)")
    learned: int | None = Field(None, ge=2, description="paint frames 0, N, 2N… of the shot and its last frame by the optimisation, learn a painter from them and paint the other frames with it (None: every frame by the optimisation)")


class LearnConfig(BaseModel):
    """How render.learned learns its painter; a field left out takes `impasto.fast.learn.LearnSettings`' default."""
    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(None, ge=1, description="learning steps (more: closer to the keyframes, slower)")
    batch: int | None = Field(None, ge=1, description="patches per step")
    patch: int | None = Field(None, ge=16, description="patch edge in px of the paint size (a multiple of 4)")
    preset: str | None = Field(None, description="network: learned (the default) or learned-tiny (tests)")
    minutes: float | None = Field(None, gt=0, description="stop learning after this many minutes, whatever steps remain")
    refine: int = Field(0, ge=0, description="optimisation iterations each learned frame runs from the painter's picture (0: the painter's picture as it is; more: nearer the look, slower)")

    def settings(self) -> dict[str, object]:
        """The fields given, as `LearnSettings` keywords (minutes become its time_limit in seconds)."""
        out: dict[str, object] = self.model_dump(exclude_none=True, exclude={"minutes", "refine"})
        if self.minutes is not None:
            out["time_limit"] = 60.0 * self.minutes
        return out


class OutputSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field("render", description="where painted frames and the manifest go")
    pattern: str = Field(DEFAULT_OUTPUT_PATTERN, description="{shot} and {version} (3 digits) are filled in; # = one frame digit")
    version: int = Field(1, ge=1, le=999, description="the version a render writes into")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if "{version}" not in v:
            raise ValueError("the output pattern must contain {version}, so versions never overwrite each other")
        if "/" in v or os.sep in v:
            raise ValueError("the output pattern is a file name; put folders in output.folder")
        return v


class PostSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    denoise: Literal["none", "bilateral", "nl_means", "tv"] = Field("none", description="denoise after the upscale: the paper's band-pass sketch look")
    strength: float = Field(0.5, ge=0, le=1, description="denoise strength, 0-1")


class DissolveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    head: str | None = Field(None, description="frames over which the painting dissolves in from the plate, e.g. '1001-1012'")
    tail: str | None = Field(None, description="frames over which it dissolves out to the plate, e.g. '1089-1100'")
    curve: Literal["linear", "smoothstep"] = Field("linear", description="how the dissolve weight ramps over head and tail: linear or smoothstep (eases in and out)")

    @field_validator("head", "tail")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None:
            _span(v)
        return v

    def span(self, which: str) -> tuple[int, int] | None:
        text = getattr(self, which)
        return None if text is None else _span(text)


def _span(text: str) -> tuple[int, int]:
    try:
        frames = parse_frame_range(text)
    except UsageError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return frames[0], frames[-1]


class ReviewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fps: float = Field(24.0, gt=0, le=240, description="frames per second of review movies (left at 24, a movie plate's own rate is used instead)")
    codec: Literal["prores", "h264"] = Field("prores", description="review movie codec: prores (ProRes 422 HQ) or h264")
    burn_in: bool = Field(True, description="frame number in the corner")


class Shot(BaseModel):
    """A shot as saved on disk."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(SHOT_SCHEMA_VERSION, description="the shot file format's version; impasto writes it")
    name: str = Field(..., description="the shot's name, e.g. cs010: names its output frames, manifest and review movies")
    plate: str = Field(..., description="frame pattern (plate.####.exr, plate.%04d.exr) or a movie file")
    frames: str = Field(..., description="frame range, e.g. '1001-1100'; for a movie, in its numbering from first_frame")
    first_frame: int | None = Field(None, description=f"a movie plate's number for its first picture (default {DEFAULT_FIRST_FRAME}): "
                                    "frame first_frame + i is the movie's picture i")
    look_file: str | None = Field(None, description="a look file (impasto look); or give [look] and styles inline")
    look: Look | None = None
    styles: list[str] = Field(default_factory=list, description="style images; default: the look file's")
    colour: ColourSettings = Field(default_factory=ColourSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    learn: LearnConfig = Field(default_factory=LearnConfig, description="with render.learned: how its painter learns")
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    post: PostSettings = Field(default_factory=PostSettings)
    dissolve: DissolveSettings = Field(default_factory=DissolveSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    regions: list[RegionSpec] = Field(default_factory=list, description="mattes painted with their own u and styles "
                                      "([[regions]]), after the look's own; paths relative to the shot file, a pattern's "
                                      "frames follow the plate's frame numbers")

    _root: Path = PrivateAttr(default_factory=Path)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("a shot name is letters, digits, '_', '-' and '.', like cs010")
        return v

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: str) -> str:
        try:
            parse_frame_range(v)
        except UsageError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        return v

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, v: int) -> int:
        if v > SHOT_SCHEMA_VERSION:
            raise ValueError(f"this shot file has schema {v}; this impasto reads up to {SHOT_SCHEMA_VERSION}, so update impasto")
        return v

    @model_validator(mode="after")
    def _one_look(self) -> Shot:
        if (self.look_file is None) == (self.look is None):
            raise ValueError("give either look_file or an inline [look] table, not both or neither")
        if self.look is not None and not self.styles:
            raise ValueError("an inline [look] needs styles = [...]")
        if self.first_frame is not None and not is_movie(self.plate):
            raise ValueError("first_frame numbers a movie plate's pictures; a sequence's frames are numbered by its files")
        if self.temporal.boil > 0 and self.render.from_previous:
            raise ValueError("boil already starts each frame from the previous painted one, so set render.from_previous "
                             "false or temporal.boil 0")
        return self

    # ------------------------------------------------------------------------------------------- paths
    @property
    def root(self) -> Path:
        """The folder relative paths are resolved against (the shot file's)."""
        return self._root

    @property
    def source(self) -> Path | None:
        """The shot file this was loaded from."""
        return self._source

    def resolve(self, path: str) -> Path:
        p = Path(os.path.expandvars(os.path.expanduser(path)))
        return p if p.is_absolute() else self._root / p

    def frame_list(self) -> list[int]:
        return parse_frame_range(self.frames)

    @property
    def plate_is_movie(self) -> bool:
        return is_movie(self.plate)

    def plate_path(self) -> Path:
        """The movie file (for a movie plate)."""
        return self.resolve(self.plate)

    def plate_pattern(self):
        return FramePattern(self.resolve(self.plate))

    @property
    def movie_first_frame(self) -> int:
        """The frame number of a movie plate's first picture (the shot's first_frame, default 1001)."""
        return DEFAULT_FIRST_FRAME if self.first_frame is None else self.first_frame

    def source_index(self, frame: int) -> int | None:
        """The 0-based picture of a movie plate that shot frame `frame` is (1040 -> 39 from 1001); None for a
        sequence, whose frame numbers are its files'."""
        return movie_source_index(frame, self.movie_first_frame) if self.plate_is_movie else None

    def output_folder(self) -> Path:
        return self.resolve(self.output.folder)

    def make_output_folder(self) -> Path:
        """Create the output folder (and its parents) now, before any frame is painted; one sentence naming the
        folder and the reason (read-only file system, a file in the way, no permission) when it cannot be."""
        folder = self.output_folder()
        problem = output_folder_problem(folder)
        if problem:
            raise UsageError(problem)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"Output folder '{folder}' cannot be created ({exc.strerror or exc}).") from None
        return folder

    def output_name(self, version: int | None = None) -> str:
        v = self.output.version if version is None else version
        try:
            return self.output.pattern.format(shot=self.name, version=f"{v:03d}")
        except (KeyError, IndexError, ValueError) as exc:
            raise UsageError(f"Output pattern '{self.output.pattern}' has a placeholder impasto does not fill ({exc}); use {{shot}} and {{version}}.") from None

    def output_pattern(self, version: int | None = None):
        return FramePattern(self.output_folder() / self.output_name(version))

    def output_path(self, frame: int, version: int | None = None) -> Path:
        return self.output_pattern(version).path(frame)

    def flow_folder(self) -> Path:
        """Where the plate's optical flow is cached (impasto.motion.cache), shared by every version of the shot."""
        return self.output_folder() / ".flow"

    def manifest_path(self, version: int | None = None) -> Path:
        """`<output folder>/<pattern without frame number and extension>.manifest.json`, e.g. cs010_paint_v001.manifest.json."""
        seq = fileseq.FileSequence(self.output_name(version), pad_style=fileseq.PAD_STYLE_HASH1)
        stem = seq.basename().rstrip("._-") or self.name
        return self.output_folder() / f"{stem}.manifest.json"

    # -------------------------------------------------------------------------------------------- look
    def resolved_look(self) -> tuple[Look, list[Path]]:
        """The look to paint with (seed fixed: the same for every frame) and its style images."""
        if self.look_file is not None:
            look_path = self.resolve(self.look_file)
            lf = load_look(look_path)
            look = lf.look
            if self.styles:
                styles = [self.resolve(s) for s in self.styles]
            else:
                styles = [_near(look_path.parent, s) for s in lf.styles]
            if not styles:
                raise UsageError(f"Look file '{look_path}' names no style images; add styles = [...] to the shot file.")
        else:
            assert self.look is not None
            look = self.look
            styles = [self.resolve(s) for s in self.styles]
        look = _with_regions(self, look)
        if look.preview:
            # A preview belongs to the frame it was made from; every frame grows from its own coarsest level.
            look = look.model_copy(update={"preview": None})
        if look.seed is None:
            # No seed in the look: one derived from the shot name, so every frame and every rerun agree.
            look = look.model_copy(update={"seed": zlib.crc32(self.name.encode()) % 2**31})
        for s in styles:
            if not s.is_file():
                raise UsageError(f"Style image '{s}' does not exist.")
        return look, styles

    def dissolve_weight(self, frame: int) -> float:
        return dissolve_weight(frame, self.dissolve.span("head"), self.dissolve.span("tail"), self.dissolve.curve)


def _with_regions(shot: Shot, look: Look) -> Look:
    """The look's regions (paths relative to its look file, or to the shot file for an inline look) then the
    shot's [[regions]] (relative to the shot file), with absolute matte and style paths: whoever reads them
    (a shot render, a preview of one frame) finds the files from any working folder."""
    if not look.regions and not shot.regions:
        return look
    base = shot.resolve(shot.look_file).parent if shot.look_file is not None else shot._root

    def absolute(r: RegionSpec, folder: Path) -> RegionSpec:
        def at(path: str) -> str:
            p = Path(os.path.expandvars(os.path.expanduser(path)))
            return str(p if p.is_absolute() else folder / p)
        return r.model_copy(update={"matte": r.matte if r.matte == "alpha" else at(r.matte),
                                    "styles": None if r.styles is None else [at(s) for s in r.styles]})

    combined = [absolute(r, base) for r in look.regions] + [absolute(r, shot._root) for r in shot.regions]
    try:
        return look.model_copy(update={"regions": Look.model_validate({"regions": [
            r.model_dump(mode="json") for r in combined]}).regions})
    except ValidationError as exc:
        where = f"Shot file '{shot._source}':" if shot._source else f"Shot {shot.name}:"
        raise UsageError(validation_sentence(exc, where)) from None


def check_temporal(shot: Shot) -> None:
    """boil > 0 and from_previous are two ways to start from the previous frame: refuse both at once (one sentence);
    a learned painter (render.learned) paints each frame on its own: refuse it with either."""
    if shot.temporal.boil > 0 and shot.render.from_previous:
        raise UsageError(f"Shot {shot.name} asks for boil {shot.temporal.boil:g} and from_previous together; boil already "
                         "starts each frame from the previous painted one, so drop from_previous (--from-content) or set boil 0.")
    if shot.render.learned and shot.temporal.boil > 0:
        raise UsageError(f"Shot {shot.name} asks for a learned painter (render.learned {shot.render.learned}) at boil "
                         f"{shot.temporal.boil:g}; the learned painter paints every frame on its own, so set boil 0 or drop --learned.")
    if shot.render.learned and shot.render.from_previous:
        raise UsageError(f"Shot {shot.name} asks for a learned painter and from_previous together; the learned painter "
                         "paints every frame from its plate, so drop from_previous (--from-content) or --learned.")


def with_overrides(shot: Shot, *, from_previous: bool | None = None, boil: float | None = None,
                   learned: int | None = None) -> Shot:
    """`shot` with render.from_previous, temporal.boil and render.learned overridden (a command line's
    --from-previous, --boil, --learned; --learned 0 turns it off); `shot` itself when nothing changes. UsageError
    when two are asked together that do not go together, or a value is out of its range."""
    update: dict[str, BaseModel] = {}
    render: dict[str, object] = {}
    if from_previous is not None and from_previous != shot.render.from_previous:
        render["from_previous"] = from_previous
    if learned is not None and (learned or None) != shot.render.learned:
        if learned < 0 or learned == 1:
            raise UsageError(f"--learned takes the keyframe spacing N (2 or more; 0 for none), not {learned}.")
        render["learned"] = learned or None
    if render:
        update["render"] = shot.render.model_copy(update=render)
    if boil is not None and boil != shot.temporal.boil:
        if not 0.0 <= boil <= 1.0:
            raise UsageError(f"--boil must lie between 0 and 1, not {boil:g}.")
        update["temporal"] = shot.temporal.model_copy(update={"boil": float(boil)})
    if not update:
        check_temporal(shot)
        return shot
    root, source = shot.root, shot.source
    copy = shot.model_copy(update=update)
    copy._root, copy._source = root, source
    check_temporal(copy)
    return copy


def _near(folder: Path, name: str) -> Path:
    """A path from a look file: relative to the look file's folder, else to the working folder."""
    p = Path(os.path.expanduser(name))
    if p.is_absolute():
        return p
    beside = folder / p
    return beside if beside.exists() or not p.exists() else p


def colour_names(shot: Shot) -> dict[str, str]:
    """The shot's resolved OCIO names (config, colour space, display, view); UsageError for unknown ones."""
    c = shot.colour
    return get_config(shot.resolve(c.config) if c.config else None).describe(c.input_space, c.display, c.view)


def invalid_shot_sentence(path: Path, exc: ValidationError) -> str:
    """A shot file's validation errors as one sentence naming the file."""
    return validation_sentence(exc, f"Shot file '{path}':", whole="file", missing="missing",
                               extra="not a shot setting (check the spelling)")


def load_shot(path: str | os.PathLike) -> Shot:
    """Read and validate a shot file; any problem is one UsageError sentence."""
    path = Path(path)
    data = read_toml(path, "Shot file", "; make one with impasto shot init")
    try:
        shot = Shot.model_validate(data)
    except ValidationError as exc:
        raise UsageError(invalid_shot_sentence(path, exc)) from None
    shot._root = path.parent.absolute() if str(path.parent) else Path.cwd()
    shot._source = path
    return shot


def save_shot(path: str | os.PathLike, shot: Shot) -> Path:
    """Write a shot file atomically (temporary name beside it, then rename)."""
    path = Path(path)
    data = shot.model_dump(mode="json", exclude_none=True)
    if shot.temporal == TemporalSettings():
        data.pop("temporal", None)  # a shot that never asked for boil keeps its file as it was
    if not shot.regions:
        data.pop("regions", None)  # nor does one without mattes
    if data.get("look"):
        data["look"] = {k: v for k, v in data["look"].items() if v is not None}
    # Settings first, tables after: TOML needs plain keys before [tables].
    order = ["schema_version", "name", "plate", "first_frame", "frames", "look_file", "styles"]
    data = {k: data[k] for k in order if k in data} | {k: v for k, v in data.items() if k not in order}
    atomic_write_text(path, tomli_w.dumps(data), error=UsageError)
    shot._root = path.parent.absolute() if str(path.parent) else Path.cwd()
    shot._source = path
    return path


def default_input_space(plate: str) -> str:
    """The colour space assumed for a plate: EXR is scene-linear ACEScg, other images and movies sRGB-encoded."""
    ext = Path(plate).suffix.lower()
    if is_movie(plate) or ext in _DISPLAY_EXTENSIONS:
        return DEFAULT_DISPLAY_SPACE
    return DEFAULT_LINEAR_SPACE
