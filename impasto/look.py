"""A look: every setting that decides how a render looks, with the defaults the CLI shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from impasto.errors import UsageError, validation_sentence
from impasto.files import atomic_write_text, read_toml
from impasto.objective.controls import DEFAULT_K, U_MAX, U_MIN

Network = Literal["vgg16", "vgg19"]
Optimizer = Literal["lbfgs", "adam"]
Pooling = Literal["max", "avg"]
PreserveColor = Literal["none", "luminance", "match"]
Precision = Literal["auto", "fp32", "tf32", "bf16"]


def _check_u(v: float) -> float:
    if not (U_MIN <= v <= U_MAX):
        raise ValueError(f"u must lie between {U_MIN:g} and {U_MAX:g}")
    return v


class RegionSpec(BaseModel):
    """Part of the frame, given by a matte, painted with its own u (and style images).

    Pixels outside every matte keep the look's settings; matte values between 0 and 1 blend. Where mattes overlap,
    later regions win: region r gets m_r × Π_{later s}(1 − m_s) of a pixel, the look's settings what is left.
    `impasto.objective.regions.load_regions` turns these into the engine's per-pixel regions.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field("", description="the region's name, unique in the look; default region1, region2, ... in order")
    matte: str = Field(..., min_length=1, description="an image, a frame pattern (mattes/fg.####.exr: the frame being "
                       "painted), or 'alpha' for the plate's (content picture's) own alpha")
    channel: str | None = Field(None, description="the matte's channel: a name such as R or A, or a layer channel of a "
                                "multi-channel EXR such as fg.A; default: the only channel, else A (alpha), else R")
    u: float | None = Field(None, description="unrealness inside the matte (as the look's u); default: the look's u")
    styles: list[str] | None = Field(None, description="style images inside the matte; default: the look's")
    style_weights: list[float] | None = Field(None, description="blend weights of the region's style images")
    feather: float = Field(0.0, ge=0, le=4096, description="soften the matte's edge: a ramp about this many px wide "
                           "at the look's size (Gaussian, sigma = feather / 2.56)")
    invert: bool = Field(False, description="use 1 − matte (paint what lies outside it)")

    @field_validator("u")
    @classmethod
    def _u_in_range(cls, v: float | None) -> float | None:
        return None if v is None else _check_u(v)

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        # Unset (None) fields left out: a region dumps as a look file writes it, and TOML has no null.
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @field_validator("styles")
    @classmethod
    def _some_styles(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("give at least one style image, or leave styles out for the look's")
        return v


class Look(BaseModel):
    """Render settings; the fields are keyword arguments of `impasto.stylize` and options of `impasto stylize`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    u: float = Field(4.0, description="unrealness: style-to-content ratio 10**u at a 512 px long edge")
    iterations: int = Field(256, ge=1, le=100_000, description="optimiser iterations (below 128 shows artefacts)")
    size: int = Field(512, ge=32, le=16384, description="output long edge in px")
    network: Network = Field("vgg16", description="VGG network")
    weights: str | None = Field(None, description="weights file; default: the installed packages, then torch's hub cache")
    style_weights: list[float] | None = Field(None, description="blend weights of several style images")
    style_scale: float = Field(1.2, gt=0, le=8, description="style image long edge relative to the output's")
    k: float = Field(DEFAULT_K, ge=0, le=4, description="ratio scales as (long_edge/512)**k")
    raw_ratio: bool = Field(False, description="use 10**u unscaled at every size")
    optimizer: Optimizer = Field("lbfgs", description="lbfgs or adam")
    lr: float | None = Field(None, gt=0, description="Adam learning rate in 0-1 pixel units (default 0.02); L-BFGS step scale (default 1)")
    init: str = Field("content", description="content, noise, or an image path")
    pooling: Pooling = Field("max", description="max or avg pooling")
    tv_weight: float = Field(0.0, ge=0, description="total-variation weight")
    preserve_color: PreserveColor = Field("none", description="none, luminance (keep the content's colours) or match (colour-match the style)")
    seed: int | None = Field(None, ge=0, description="random seed; a render records the one it used")
    precision: Precision = Field("auto", description="auto (measured once per machine: bf16 where it is 1.2× faster, else TF32 on CUDA and fp32 on CPUs), fp32, tf32 or bf16 (network in bfloat16, losses in fp32)")
    levels: int = Field(1, ge=1, le=4, description="coarse-to-fine levels: 3 optimises at 1/4, 1/2, then full size")
    anchor: float = Field(0.0, ge=0, le=1000, description="coarse-to-fine: how firmly finer levels keep the coarsest level's picture (0: free; impasto preview writes 4)")
    preview: str | None = Field(None, description="a preview image (impasto preview) that stands in for the coarsest level: the final grows from it")
    tile: int = Field(0, ge=0, le=16384, description="tile long edge in px; 0: tiles only when the whole image will not fit in memory")
    tile_overlap: int = Field(48, ge=0, le=1024, description="overlap between tiles in px, feathered")
    compile: bool = Field(False, description="torch.compile the network (CUDA; slow to start)")
    regions: list[RegionSpec] = Field(default_factory=list, description="mattes painted with their own u and styles "
                                      "([[look.regions]] in TOML); later regions win where they overlap")

    @field_validator("u")
    @classmethod
    def _u_in_range(cls, v: float) -> float:
        return _check_u(v)

    @field_validator("regions")
    @classmethod
    def _named_regions(cls, v: list[RegionSpec]) -> list[RegionSpec]:
        named = [r if r.name else r.model_copy(update={"name": f"region{i + 1}"}) for i, r in enumerate(v)]
        seen: set[str] = set()
        for r in named:
            if r.name in seen:
                raise ValueError(f"two regions are named '{r.name}'; give each its own name")
            if r.styles is None and r.style_weights is not None:
                raise ValueError(f"region '{r.name}' gives style_weights but no styles")
            if r.styles is not None and r.style_weights is not None and len(r.styles) != len(r.style_weights):
                raise ValueError(f"region '{r.name}' has {len(r.style_weights)} style_weights for "
                                 f"{len(r.styles)} styles")
            seen.add(r.name)
        return named

    @model_serializer(mode="wrap")
    def _without_empty_regions(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        # A look without regions dumps exactly as before regions existed: sidecars, look files and hashes agree.
        data = handler(self)
        if isinstance(data, dict) and not self.regions:
            data.pop("regions", None)
        return data


def rebase_regions(look: Look, folder: str | os.PathLike) -> Look:
    """The look with its regions' relative matte and style paths made relative to `folder` (a look file's folder),
    as a look file's own content and styles are; `alpha` and absolute paths stay as they are."""
    if not look.regions:
        return look

    def moved(path: str) -> str:
        return path if Path(path).is_absolute() else str(Path(folder) / path)

    regions = [r.model_copy(update={
        "matte": r.matte if r.matte == "alpha" else moved(r.matte),
        "styles": None if r.styles is None else [moved(s) for s in r.styles],
    }) for r in look.regions]
    return look.model_copy(update={"regions": regions})


SCHEMA_VERSION = 1


class LookFile(BaseModel):
    """A look as saved on disk (TOML): the render settings plus what they were developed on."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(SCHEMA_VERSION, description="the look file format's version; impasto writes 1")
    look: Look = Field(default_factory=Look)
    content: str | None = Field(None, description="the frame the look was developed on")
    styles: list[str] = Field(default_factory=list, description="style images, in blend order")
    weights_origin: str | None = Field(None, description="where the VGG weights came from: u is comparable only within one origin")
    precision_used: str | None = Field(None, description="the precision the render ran in and why (what 'auto' chose on that machine)")


def save_look(path: str | os.PathLike, look_file: LookFile) -> Path:
    """Write a look file atomically (temporary name, then rename)."""
    path = Path(path)
    data = look_file.model_dump(mode="json", exclude_none=True)
    data["look"] = {k: v for k, v in data["look"].items() if v is not None}
    return atomic_write_text(path, tomli_w.dumps(data), error=UsageError)


def load_look(path: str | os.PathLike) -> LookFile:
    """Read and validate a look file; any problem is one UsageError sentence."""
    path = Path(path)
    data = read_toml(path, "Look file")
    try:
        return LookFile.model_validate(data)
    except ValidationError as exc:
        raise UsageError(validation_sentence(exc, f"Look file '{path}':")) from None
