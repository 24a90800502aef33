"""A look: every setting that decides how a render looks, with the defaults the CLI shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .controls import DEFAULT_K, U_MAX, U_MIN

Network = Literal["vgg16", "vgg19"]
Optimizer = Literal["lbfgs", "adam"]
Pooling = Literal["max", "avg"]
PreserveColor = Literal["none", "luminance", "match"]


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

    @field_validator("u")
    @classmethod
    def _u_in_range(cls, v: float) -> float:
        if not (U_MIN <= v <= U_MAX):
            raise ValueError(f"u must lie between {U_MIN:g} and {U_MAX:g}")
        return v
