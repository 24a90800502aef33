"""The shot file's `[temporal]` table: boil, its chunks, how frames between keyframes are held and how long they
paint (issues 16 and 25)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TemporalSettings(BaseModel):
    """How much the strokes may re-arrange from frame to frame (issues 16 and 25): boil 0 paints every frame on its
    own (the boil); above 0 each frame between two keyframes is held toward both (two-sided, the default) or
    toward the previous painted frame (forward), carried along the plate's motion.

    `between` and `iterations` left unsaid take the current defaults (two-sided, "auto"), except in a version
    that already holds frames painted at boil > 0 without them: those keep rendering as they were painted
    (forward, the look's count; `impasto.shot.identity.settled_temporal`), until `impasto shot version-up`."""

    model_config = ConfigDict(extra="forbid")

    boil: float = Field(0.0, ge=0, le=1, description="0 = every frame painted on its own (strokes boil); 1 = as steady as the plate's motion allows")
    chunk: int = Field(12, ge=1, le=10000, description="frames per chunk: keyframes are the shot's frames 0, chunk, 2·chunk… (and, two-sided, its last frame), painted first; chunks then render in parallel")
    pull: int = Field(3, ge=0, description="forward only: the last `pull` frames of a chunk are also pulled toward the next keyframe")
    between: Literal["two-sided", "relay", "forward"] | None = Field(
        None, description="two-sided: each frame between keyframes K and K' is held toward both, carried to it along "
        "the plate's composed motion, with weights that cross over the chunk (frames of a chunk paint in parallel); "
        "relay: toward the previous painted frame and K', the weights crossing over the chunk (frames paint in "
        "order); forward: toward the previous painted frame, the last `pull` also toward K' (default: two-sided; "
        "see the class docstring)")
    iterations: int | Literal["auto"] | None = Field(
        None, description="iterations for frames between keyframes: a number, or \"auto\" (stop once the loss has "
        "converged, capped at the look's count); keyframes take the look's (default: \"auto\"; see the class docstring)")
    keyframes: Literal["chained", "independent"] = Field(
        "chained", description="chained: each keyframe starts from the one before, carried along the plate's motion "
        "(keyframes paint one after another, and chunks meet without a seam); independent: each from the plate "
        "(keyframes paint in parallel too)")

    @field_validator("iterations", mode="before")
    @classmethod
    def _iterations(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError('iterations must be 1 or more, or "auto"')
        return v

    def settled(self, painted_before: bool = False) -> TemporalSettings:
        """These settings with `between` and `iterations` filled in: the defaults of today (two-sided, "auto"), or
        with `painted_before`, those of frames painted before they existed (forward, the look's count)."""
        between = self.between or ("forward" if painted_before else "two-sided")
        iterations = self.iterations if self.iterations is not None else (None if painted_before else "auto")
        return self.model_copy(update={"between": between, "iterations": iterations})

    def key(self) -> str:
        """What the look hash gains at boil > 0, so a version never mixes boils: '' at boil 0. Settled settings
        (`settled`); forward with the look's count keeps the suffix frames painted before issue 25 carry."""
        if self.boil == 0:
            return ""
        its = f"i{self.iterations}" if self.iterations is not None else ""
        ind = "ki" if self.keyframes == "independent" else ""
        hold = {"two-sided": "ts", "relay": "rl"}.get(self.between or "", f"p{self.pull}")
        return f"+boil{self.boil:g}c{self.chunk}{hold}{its}{ind}"
