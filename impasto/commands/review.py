"""`impasto review SHOT.toml -o review.mov`: a review movie of the painted frames (ProRes 422 HQ or H.264)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from impasto.commands.common import app, err, fail
from impasto.errors import ImpastoError
from impasto.io.sequence import format_frame_range
from impasto.shot.config import load_shot
from impasto.shot.render import make_review


@app.command()
def review(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml).", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Movie to write (.mov; .mp4 for h264). (default: review/<shot>_v###.mov)"),
    fps: Optional[float] = typer.Option(None, help="Frame rate. (default: the shot file's review.fps, 24)"),
    codec: Optional[str] = typer.Option(None, help="prores (422 HQ) or h264. (default: the shot file's review.codec)"),
    burn_in: Optional[bool] = typer.Option(None, "--burn-in/--no-burn-in", help="Frame number in the corner. (default: the shot file's review.burn_in)"),
    version: Optional[int] = typer.Option(None, help="Version to review. (default: the shot file's)"),
) -> None:
    """Write a review movie of a shot version's painted frames, display-referred through the shot's view."""
    try:
        shot = load_shot(shot_file)
        v = version or shot.output.version
        path = output
        if path is None:
            path = Path("review") / f"{shot.name}_v{v:03d}.mov"
            path.parent.mkdir(exist_ok=True)
        out, used, missing = make_review(shot, path, fps=fps, codec=codec, burn_in=burn_in, version=v)
    except ImpastoError as exc:
        fail(exc)
    gap = f"; frames {format_frame_range(missing)} are not painted yet and are left out" if missing else ""
    err.print(f"wrote {out}: {len(used)} frames of {shot.name} v{v:03d}{gap}", highlight=False, soft_wrap=True)
