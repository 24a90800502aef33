"""A shot version's review movie: every frame from the first to the last through the shot's display, beside
the plate or another version when asked (`impasto review`); the movie itself is written by `impasto.shot.movie`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from impasto.errors import ImpastoError, UsageError
from impasto.io.frames import Frame, read_frame
from impasto.io.sequence import format_frame_range
from impasto.shot.config import Shot
from impasto.shot.manifest import read_manifest
from impasto.shot.movie import (
    NOT_PAINTED,
    Picture,
    describe_rate,
    draw_burn_in,
    movie_rate,
    review_rate,
    slate,
    write_review_movie,
)


@dataclass
class ShotReview:
    """What `review_shot` wrote: the movie, its rate, and which frames are paintings, slates and damaged files."""

    path: Path
    rate: Fraction
    rate_from: str  # where the rate came from, in words
    frames: list[int]  # every frame in the movie, first to last
    painted: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # held as "not painted" slates
    damaged: list[int] = field(default_factory=list)  # painted files that could not be read: held as slates
    version: int | None = None  # the version reviewed
    compare: int | None = None  # the version shown beside it (plate | version | compare)
    compare_missing: list[int] = field(default_factory=list)  # frames the compared version has no painting of


def shot_rate(shot: Shot, fps: float | None = None) -> tuple[Fraction, str]:
    """The review's exact rate and where it came from: `fps` if given, else the shot file's review.fps, except that
    a movie plate's own rate wins over the untouched default of 24 (a 23.976 plate reviews at 24000/1001)."""
    if fps is not None:
        return review_rate(fps), "--fps"
    default = type(shot.review).model_fields["fps"].default
    if shot.plate_is_movie and shot.review.fps == default:
        rate = movie_rate(shot.plate_path())
        if rate is not None:
            return rate, "the movie plate"
    return review_rate(shot.review.fps), "the shot file"


def review_shot(shot: Shot, path: str | os.PathLike, display: Callable[[Frame], np.ndarray], *,
                fps: float | None = None, codec: str | None = None, burn_in: bool | None = None,
                version: int | None = None, compare: int | None = None,
                plate: Callable[[int], np.ndarray] | None = None,
                progress: Callable[[int, int], None] | None = None) -> ShotReview:
    """A review movie of a shot version from its first frame to its last, display-referred through `display`:
    a frame not painted (or whose file cannot be read) is held as a slate saying so, so timecodes stay true; in a
    stepped range (1001-1009x2) a frame between two of the shot's holds the painting before it.

    With `compare` (another version) each picture is plate | this version | version `compare` side by side, each
    panel labelled (with the boil its frame was painted at, when the manifest records one); `plate(n)` gives the
    plate's display picture of frame n. A panel without a painting is a slate saying why."""
    v = shot.output.version if version is None else version
    pattern = shot.output_pattern(v)
    wanted = shot.frame_list()
    rate, rate_from = shot_rate(shot, fps)
    frames = list(range(min(wanted), max(wanted) + 1))
    report = ShotReview(Path(path), rate, rate_from, frames, version=v, compare=compare)
    report.painted = [n for n in wanted if pattern.path(n).is_file()]
    if not report.painted:
        raise UsageError(f"Version {v} of {shot.name} has no painted frames yet; run impasto render first.")
    panels = None if compare is None else _Panels(shot, v, compare, display, plate, report)
    painted, shot_frames = set(report.painted), set(wanted)

    def pictures() -> Iterator[tuple[int, Picture]]:
        held: Picture = "not in the shot"
        for i, n in enumerate(frames):
            picture: Picture = None
            if n not in shot_frames:  # a stepped range (on twos): the frame before holds, as it would on film
                picture = held
            elif panels is not None:
                picture = held = panels.picture(n)
            elif n in painted:
                try:
                    picture = held = display(read_frame(pattern.path(n)))
                except ImpastoError:  # a truncated or damaged painted file: held like a gap, and listed
                    report.damaged.append(n)
                    picture = "damaged"
            if progress:
                progress(i + 1, len(frames))
            yield n, picture

    write_review_movie(pictures(), path, fps=rate, codec=codec or shot.review.codec,
                       burn_in=shot.review.burn_in if burn_in is None else burn_in, span=(frames[0], frames[-1]))
    report.missing = [n for n in wanted if n not in painted]
    return report


class _Panels:
    """Pictures of plate | version | compared version side by side, every panel the size of the painted frames."""

    def __init__(self, shot: Shot, version: int, compare: int, display: Callable[[Frame], np.ndarray],
                 plate: Callable[[int], np.ndarray] | None, report: ShotReview) -> None:
        if compare == version:
            raise UsageError(f"--compare {compare} is the version under review; compare with another version.")
        wanted = shot.frame_list()
        self.patterns = {version: shot.output_pattern(version), compare: shot.output_pattern(compare)}
        others = [n for n in wanted if self.patterns[compare].path(n).is_file()]
        if not others:
            raise UsageError(f"Version {compare} of {shot.name} has no painted frames to compare with; render it or "
                             "pick another version.")
        report.compare_missing = [n for n in wanted if n not in set(others)]
        self.shot, self.version, self.compare = shot, version, compare
        self.display, self.plate, self.report = display, plate, report
        self.boils = {w: {n: getattr(e, "boil", None) for n, e in read_manifest(shot.manifest_path(w)).frames.items()}
                      for w in (version, compare)}
        self.size: tuple[int, int] | None = None
        for w, n in [(version, n) for n in report.painted] + [(compare, n) for n in others]:
            try:
                self.size = self.display(read_frame(self.patterns[w].path(n))).shape[:2]
                break
            except ImpastoError:
                continue
        if self.size is None:
            raise UsageError(f"No painted frame of version {version} or {compare} of {shot.name} can be read.")

    def _fit(self, picture: np.ndarray) -> np.ndarray:
        picture = np.asarray(picture, dtype=np.float32)[..., :3]
        h, w = self.size
        if picture.shape[:2] == (h, w):
            return picture
        from PIL import Image  # only for a panel of another size (a plate read at a different resolution)

        chans = [np.asarray(Image.fromarray(picture[..., c]).resize((w, h), Image.BILINEAR)) for c in range(3)]
        return np.stack(chans, -1).astype(np.float32)

    def _painted(self, w: int, n: int) -> np.ndarray:
        label = f"v{w:03d}"
        boil = self.boils[w].get(n)
        if boil is not None:
            label += f" boil {boil:g}"
        path = self.patterns[w].path(n)
        if not path.is_file():
            return slate(self.size, n, f"v{w:03d} {NOT_PAINTED}")
        try:
            return draw_burn_in(self._fit(self.display(read_frame(path))), label, top=True)
        except ImpastoError:
            if w == self.version:
                self.report.damaged.append(n)
            return slate(self.size, n, f"v{w:03d} damaged")

    def picture(self, n: int) -> np.ndarray:
        try:
            left = draw_burn_in(self._fit(self.plate(n)), "plate", top=True) if self.plate else None
        except ImpastoError:
            left = None
        if left is None:
            left = slate(self.size, n, "plate unreadable")
        return np.concatenate([left, self._painted(self.version, n), self._painted(self.compare, n)], axis=1)


def describe_review(report: ShotReview) -> str:
    """The sentence after 'wrote MOVIE:' that says what a review holds."""
    held = []
    if report.missing:
        mine = f" in v{report.version:03d}" if report.compare is not None and report.version is not None else ""
        held.append(f"{_frames(report.missing)} not painted{mine}")
    if report.damaged:
        held.append(f"{_frames(report.damaged)} damaged (unreadable)")
    if report.compare is not None and report.compare_missing:
        held.append(f"{_frames(report.compare_missing)} not painted in v{report.compare:03d}")
    text = (f"{len(report.frames)} frame{'s' if len(report.frames) != 1 else ''} "
            f"({format_frame_range(report.frames)}) at {describe_rate(report.rate)} from {report.rate_from}")
    if held:
        text += f"; {' and '.join(held)}, held as slates so every frame keeps its timecode"
    return text


def _frames(numbers: list[int]) -> str:
    return f"frame{'s' if len(numbers) != 1 else ''} {format_frame_range(numbers)}"
