"""The plate of a shot, read one way: frames, digests, missing frames, and the display picture the network sees.

`PlateSource` is the one plate-to-display path (`read_plate` -> `straight` -> `to_display`); the render, boil,
status, review, the studio and `fast train` use it, so a model trains on the pictures a shot paints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from impasto.errors import UsageError
from impasto.io.frames import Frame, read_frame, unpremultiply
from impasto.io.ocio import ColourConfig, get_config
from impasto.io.sequence import existing_frames, movie_frame_count, movie_frames, movie_info
from impasto.shot.config import ColourSettings, Shot, colour_names
from impasto.shot.identity import cached_digest
from impasto.shot.manifest import Manifest, read_manifest


def straight_colour(frame: Frame, colour: ColourSettings) -> np.ndarray:
    """A plate frame's colour, unpremultiplied when `colour.alpha` says the plate is premultiplied (and it has
    alpha): the first half of the one plate-to-display path."""
    if frame.alpha is not None and colour.alpha == "premultiplied":
        return unpremultiply(frame.rgb, frame.alpha)
    return frame.rgb


def display_colour(straight: np.ndarray, colour: ColourSettings, config: ColourConfig | None = None) -> np.ndarray:
    """Straight plate colour -> the display-referred 0-1 picture the network sees, through `colour`'s input space,
    display and view (in `config`, default: `colour.config`'s, else $OCIO's or the built-in one)."""
    config = config or get_config(colour.config)
    return config.to_display(straight, colour.input_space, colour.display, colour.view)


def display_picture(frame: Frame, colour: ColourSettings, config: ColourConfig | None = None) -> np.ndarray:
    """A plate frame as the display-referred 0-1 picture the network sees: `straight_colour`, then `display_colour`."""
    return display_colour(straight_colour(frame, colour), colour, config)


def plate_header(path: Path) -> tuple[int, int] | None:
    """(width, height) of a plate frame's data window from its header; None if the header cannot be read."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        return spec.width, spec.height
    finally:
        inp.close()



class PlateSource:
    """A shot's plate as every part of impasto reads it: its frames (a sequence or a movie), their digests, which
    are missing, and each frame as the display picture the network sees, through the shot's own `[colour]`
    (config, input space, display, view, alpha). The shot render, boil, status, review, the studio and
    `fast train` all read plates here."""

    def __init__(self, shot: Shot) -> None:
        self.shot = shot
        self.version = shot.output.version
        self.colour = get_config(shot.resolve(shot.colour.config) if shot.colour.config else None)
        self.colour_names = colour_names(shot)
        self.encoding = self.colour.encoding(shot.colour.input_space)
        self.manifest_path = shot.manifest_path()
        self.frames = shot.frame_list()
        self.movie = shot.plate_is_movie
        self._movie_iter = None
        self._movie_at: int | None = None
        self._movie_digest: str | None = None
        # Made on first use only: Ray ends its actors without running their finalisers, so an eager one leaks.
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.plate_size: tuple[int, int] | None = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def scratch(self) -> Path:
        """A private temporary folder for this renderer, removed by close()."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="impasto-shot-")
        return Path(self._tmp.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------------------------- inputs
    def manifest(self) -> Manifest:
        return read_manifest(self.manifest_path)

    def source_index(self, frame: int) -> int | None:
        """For a movie plate, the index in the movie (0 = its first frame) of shot frame `frame`; None otherwise."""
        if not self.movie:
            return None
        mapping = getattr(self.shot, "source_index", None)  # the shot file's numbering (--first-frame), when it has one
        return int(mapping(frame)) if callable(mapping) else frame - self.frames[0]

    def input_hash(self, frame: int) -> str:
        if self.movie:
            if self._movie_digest is None:
                self._movie_digest = cached_digest(self.shot.plate_path())
            return f"{self._movie_digest}:{self.source_index(frame)}"
        return cached_digest(self.shot.plate_pattern().path(frame))

    def missing_plates(self, frames: list[int]) -> list[int]:
        """Frames of `frames` with no plate frame: a file not there, or beyond the movie's ends."""
        if self.movie:
            info = movie_info(self.shot.plate_path())
            self.plate_size = (info.width, info.height)
            # Containers that do not state a frame count (mkv) are counted by decoding.
            count = info.frames or movie_frame_count(self.shot.plate_path()) or None
            return [f for f in frames if (i := self.source_index(f)) is None or i < 0 or (count is not None and i >= count)]
        return existing_frames(self.shot.plate_pattern(), frames)[1]

    def check_plates(self, frames: list[int]) -> list[int]:
        """The frames whose plate frame is missing (painted once it is there); stop before painting anything if the
        plate frames that are there differ in size (one sentence)."""
        missing = self.missing_plates(frames)
        if self.movie:
            return missing
        pattern = self.shot.plate_pattern()
        # The shot's first readable frame sets the size, so farm tasks of one shot all agree.
        ref_frame, ref = None, None
        for f in [self.frames[0], *frames]:
            if pattern.path(f).is_file():
                size = plate_header(pattern.path(f))
                if size is not None:
                    ref_frame, ref = f, size
                    break
        for f in frames:
            size = plate_header(pattern.path(f))
            if size is not None and ref is not None and size != ref:
                raise UsageError(
                    f"Plate frame {f} is {size[0]}×{size[1]} but frame {ref_frame} is {ref[0]}×{ref[1]}; "
                    "a shot needs one resolution, so conform the plate first."
                )
        self.plate_size = ref
        return missing

    def read_plate(self, frame: int):
        """The plate frame as a `Frame` (file values, alpha, spec)."""
        if not self.movie:
            return read_frame(self.shot.plate_pattern().path(frame))
        # Decode forward through one open movie (counting from its first frame, index 0); go back to the start
        # only when asked for an earlier frame.
        index = self.source_index(frame)
        if self._movie_iter is None or self._movie_at is None or index <= self._movie_at:
            self._movie_iter = movie_frames(self.shot.plate_path(), 0)
            self._movie_at = None
        for number, rgb in self._movie_iter:
            self._movie_at = number
            if number == index:
                return Frame(rgb=rgb)
        self._movie_iter = None
        raise UsageError(f"Movie '{self.shot.plate}' ends before frame {frame} (its frame {index}).")

    def straight(self, frame: Frame) -> np.ndarray:
        """A frame's colour, unpremultiplied when the shot says its plate is premultiplied (and it has alpha)."""
        return straight_colour(frame, self.shot.colour)

    def to_display(self, straight: np.ndarray) -> np.ndarray:
        """Straight plate colour to the display-referred picture, through the shot's display and view."""
        return display_colour(straight, self.shot.colour, self.colour)

    def display(self, frame: Frame) -> np.ndarray:
        """A frame's pixels as the display-referred 0-1 picture the network sees."""
        return self.to_display(self.straight(frame))

    def picture(self, n: int) -> np.ndarray:
        """Plate frame `n` as the display picture the network sees."""
        return self.display(self.read_plate(n))
