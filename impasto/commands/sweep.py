"""`impasto sweep`: a grid of renders over u, iterations, style variants and seeds, with a contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from impasto.commands.common import app, command_errors, err
from impasto.commands.progress import Reporter
from impasto.commands.look_options import (
    MATTE_OPTIONS,
    STYLE_OPTIONS,
    look_inputs,
    look_options,
    print_warnings,
)
from impasto.errors import UsageError
from impasto.lookdev.sweep import check_saturation, parse_values, plan_sweep, run_sweep


@app.command()
@look_options("look", "size", "network", "weights", "seed", "device", *STYLE_OPTIONS, *MATTE_OPTIONS, after="region")
def sweep(
    content: Optional[Path] = typer.Argument(None, help="Content image (the frame); may come from --look.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="Style images: each one is a row block of the grid (a variant, not a blend); may come from --look.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the sweep: cells/ (images with their look files), contact_sheet.png, index.html, sweep.json.", show_default=False),
    u: Optional[str] = typer.Option(None, "--u", help="u values: a range as first, last and step with the last included (2:6:0.5 is 9 values) or a list like 3,4,5. (default: the look's u)"),
    iterations: Optional[str] = typer.Option(None, "--iterations", help="Iteration counts, e.g. 64,128,256 or 64:256:64; one run to the largest gives the others as snapshots. (default: the look's)"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds as another axis, e.g. 1,2,3; --seed N is one seed. (default: the look's seed, else one random seed kept for resumes)"),
    region: Optional[str] = typer.Option(None, "--region", help="Vary this region's u across the sweep (--u gives its values) and keep the look's u and the other regions as they are; a region the look file names, or 'matte' for --matte."),
    parallel: Optional[int] = typer.Option(None, "--parallel", help="Cells rendered at once. (default: 1 on CPU, where torch already uses every core for one cell; on CUDA as many as fit in memory, up to 4)"),
    thumb: int = typer.Option(256, "--thumb", min=16, help="Long edge of each cell on the contact sheet, px (cells are never enlarged)."),
    **options: Any,
) -> None:
    """Render a grid of looks (u across, styles x seeds down, iterations as sub-rows) and a contact sheet; reruns resume."""
    # u and iterations are axes here (ranges, lists), not single look values: they are parsed below.
    with command_errors(interrupted=f"Interrupted; the cells written so far are kept, and the same command resumes in '{output}'.", paints=True):
        if seeds is not None and options["seed"] is not None:
            raise UsageError("Give --seed (one seed) or --seeds (a list of seeds), not both.")
        look_file, content_path, style_paths = look_inputs(options["look"], {"content": content, "styles": styles, **options})
        us = parse_values(u, "--u") if u is not None else None
        its = parse_values(iterations, "--iterations", integer=True) if iterations is not None else None
        seed_list = parse_values(seeds, "--seeds", integer=True) if seeds is not None else None
        plan = plan_sweep(content_path, style_paths, output, look_file.look, us=us, iterations=its, seeds=seed_list,
                          region=region)
        print_warnings(plan.warnings)
        if saturated := check_saturation(plan, options["device"]):
            err.print(f"warning: {saturated}", highlight=False)
        with Reporter("sweep", totals={"cell": len(plan.cells)}) as progress:
            report = run_sweep(plan, device=options["device"], workers=parallel, progress=progress, thumb=thumb)
    why = " (CPU: torch already uses every core for one cell)" if report.device == "cpu" and report.workers == 1 else ""
    err.print(
        f"wrote {report.sheet} and {report.index}: {plan.rows}×{plan.cols} cells ({len(plan.variants)} style×seed "
        f"rows × {len(plan.iterations)} iteration counts, {plan.cols} {plan.region + ' ' if plan.region else ''}u values); rendered {len(report.rendered)} in "
        f"{report.runs} runs, kept {len(report.skipped)}; {report.seconds:.1f} s on {report.device}, "
        f"{report.workers} at once{why}", highlight=False,
    )
    if not report.labelled:
        err.print("warning: no font was found, so the contact sheet has no labels; index.html lists every cell's parameters.")
