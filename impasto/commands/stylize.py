"""`impasto stylize`: one image, painted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from impasto.api import render
from impasto.commands.common import app, command_errors, err
from impasto.commands.progress import Reporter
from impasto.commands.look_options import (
    LOOK_OPTIONS,
    apply_memory_cap,
    look_inputs,
    look_options,
    print_warnings,
    warn_origin,
    write_painting,
)
from impasto.io.images import check_writable
from impasto.look import Look


@app.command()
@look_options(*LOOK_OPTIONS)
def stylize(
    content: Optional[Path] = typer.Argument(None, help="Content image (the plate frame), or a movie frame as MOVIE@N (N counted from 1001; @0 is refused); may come from --look.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="One or more style images (paintings); may come from --look.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image (.png, .jpg, .tif, .exr); the look used is written beside it as <stem>.look.toml. (default: <content stem>_impasto.png in the current folder)"),
    **options: Any,
) -> None:
    """Paint CONTENT in the style of STYLES (several styles are blended); --matte paints part of it with its own u and style."""
    with command_errors(interrupted="Interrupted; nothing written.", paints=True):
        apply_memory_cap(options["max_memory"])
        look_file, content_path, style_paths = look_inputs(options["look"], {"content": content, "styles": styles, **options})
        out = check_writable(output or Path(f"{content_path.stem}_impasto.png"))
        with Reporter("stylize", totals={"iteration": look_file.look.iterations}) as reporter:
            result = render(content_path, [str(s) for s in style_paths], look_file.look, device=options["device"],
                            progress=reporter)
        sidecar = write_painting(out, result.image, {"look": result.look.model_dump(), "ratio": result.ratio},
                                 result.look, content_path, style_paths, result.weights_origin,
                                 result.precision_reason)
    warn_origin(look_file.weights_origin, result.weights_origin)
    print_warnings(result.warnings)
    err.print(f"precision {result.precision_reason}", highlight=False)
    if result.fp32_from is not None:
        err.print(f"bf16 stopped improving at iteration {result.fp32_from}; the render went on in fp32 from there.",
                  highlight=False)
    err.print(f"wrote {out} and {sidecar.name} ({result.image.shape[1]}×{result.image.shape[0]}, u {result.look.u:g}, "
              f"ratio {result.ratio:.3g}{_regions(result.look)}, seed {result.look.seed}, {result.seconds:.1f} s on {result.device})", highlight=False)


def _regions(look: Look) -> str:
    """', matte u 2' for each region: what the painting's parts were painted with."""
    return "".join(f", {r.name} u {look.u if r.u is None else r.u:g}" for r in look.regions)
