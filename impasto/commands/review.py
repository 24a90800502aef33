"""`impasto review SHOT.toml -o review.mov`: a review movie of the painted frames (ProRes 422 HQ or H.264);
`--compare V`: plate | this version | version V side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from impasto.commands.common import app, command_errors, err
from impasto.shot.config import load_shot
from impasto.shot.source import PlateSource
from impasto.shot.review import describe_review, review_shot


@app.command()
def review(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml).", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Movie to write (.mov; .mp4 for h264). (default: review/<shot>_v###.mov)"),
    fps: Optional[float] = typer.Option(None, help="Frame rate; 23.976 is written as 24000/1001. (default: a movie plate's own rate, else the shot file's review.fps, 24)"),
    codec: Optional[str] = typer.Option(None, help="prores (422 HQ) or h264. (default: the shot file's review.codec)"),
    burn_in: Optional[bool] = typer.Option(None, "--burn-in/--no-burn-in", help="Frame number in the corner. (default: the shot file's review.burn_in)"),
    version: Optional[int] = typer.Option(None, help="Version to review. (default: the shot file's)"),
    compare: Optional[int] = typer.Option(None, "--compare", metavar="V", help="Another version (e.g. 1) to show beside this one: each picture is plate | this version | version V, labelled with the version and its boil. (default: this version alone; file review/<shot>_v###_vs_v###.mov)"),
) -> None:
    """Write a review movie of a shot version, display-referred through the shot's view: one picture per frame
    from the shot's first to its last, a frame not painted yet held as a slate saying so (timecodes stay true).
    With --compare V, plate | this version | version V side by side (boil 0 against boil 1, say)."""
    with command_errors(os_error="Could not write the review movie"):
        shot = load_shot(shot_file)
        v = version or shot.output.version
        path = output
        if path is None:
            vs = "" if compare is None else f"_vs_v{compare:03d}"
            path = Path("review") / f"{shot.name}_v{v:03d}{vs}.mov"
            path.parent.mkdir(exist_ok=True)
        with PlateSource(shot) as frames:
            report = review_shot(shot, path, frames.display, fps=fps, codec=codec, burn_in=burn_in, version=v,
                                 compare=compare, plate=lambda n: frames.display(frames.read_plate(n)))
    what = f"v{v:03d}" if compare is None else f"plate | v{v:03d} | v{compare:03d} side by side"
    err.print(f"wrote {report.path}: {shot.name} {what}, {describe_review(report)}", highlight=False, soft_wrap=True)
    if report.missing or report.damaged:
        err.print("warning: the slates say 'not painted' or 'damaged'; render the shot and run review again for a "
                  "complete movie.", highlight=False, soft_wrap=True)
