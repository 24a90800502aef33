"""`impasto frames info` / `impasto frames grab`: a movie plate's frame numbering, and one frame as a still."""

from __future__ import annotations

from pathlib import Path

import typer

from impasto.commands.common import app, command_errors, err
from impasto.errors import UsageError
from impasto.io.images import check_writable, write_image
from impasto.io.sequence import (
    DEFAULT_FIRST_FRAME,
    MOVIE_FRAME_HELP,
    count_text,
    is_movie,
    movie_frame_count,
    movie_info,
    movie_source_index,
    read_movie_frame,
)
from impasto.version import __version__

frames_app = typer.Typer(
    help=f"A movie plate's frame numbering, and one of its frames as a still for look development. {MOVIE_FRAME_HELP}",
    no_args_is_help=True,
)
app.add_typer(frames_app, name="frames")

FIRST_FRAME_OPT = typer.Option(DEFAULT_FIRST_FRAME, "--first-frame",
                               help="The number the movie's first picture gets (as shot init --first-frame).")


def _movie(path: Path) -> Path:
    if not is_movie(path):
        raise UsageError(f"'{path}' is not a movie file; a sequence's frame is already a still (e.g. plates/cs010.1001.exr).")
    return path


@frames_app.command("info")
def info(
    movie: Path = typer.Argument(..., help="Movie file (.mov, .mp4, .avi, ...).", show_default=False),
    first_frame: int = FIRST_FRAME_OPT,
) -> None:
    """Say how a movie's frames are numbered: its frame range from --first-frame, size, rate and codec."""
    with command_errors():
        meta = movie_info(_movie(movie))
        count = movie_frame_count(movie)
    last = first_frame + count - 1
    err.print(f"{movie}: {count_text(count)}, numbered {first_frame}-{last} (pictures 0-{count - 1}), "
              f"{meta.width}×{meta.height}, {meta.fps:.3f} fps, {meta.codec} {meta.pix_fmt}".rstrip(),
              highlight=False, soft_wrap=True)


@frames_app.command("grab")
def grab(
    movie: Path = typer.Argument(..., help="Movie file (.mov, .mp4, .avi, ...).", show_default=False),
    frame: int = typer.Option(..., "--frame", help="Frame number in the movie's numbering from --first-frame (1040 is picture 39 from 1001).", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Still to write (.png, .jpg, .tif, .exr), display-referred as the movie is.", show_default=False),
    first_frame: int = FIRST_FRAME_OPT,
) -> None:
    """Write one frame of a movie as a still (for look development: impasto stylize, preview, sweep)."""
    with command_errors():
        check_writable(output)
        rgb = read_movie_frame(_movie(movie), frame, first_frame)
        index = movie_source_index(frame, first_frame)
        write_image(output, rgb, {"Software": f"impasto {__version__}",
                                  "impasto:source": f"{movie.name} frame {frame} (picture {index} from {first_frame})"})
    hint = f"; or paint it straight from the movie: impasto stylize {movie}@{frame} STYLE" if first_frame == DEFAULT_FIRST_FRAME else ""
    err.print(f"wrote {output}: frame {frame} of {movie} (picture {index}, numbered from {first_frame}), "
              f"{rgb.shape[1]}×{rgb.shape[0]}{hint}", highlight=False, soft_wrap=True)
