"""`impasto preview`: a quick render that predicts the final (smaller, or a crop at full size); `--calibrate` measures k."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from impasto.commands.common import (
    _F,
    app,
    command_errors,
    err,
    parse_floats,
)
from impasto.commands.progress import Reporter
from impasto.commands.look_options import (
    MATTE_OPTIONS,
    STYLE_OPTIONS,
    look_inputs,
    look_options,
    print_warnings,
    warn_origin,
    write_painting,
    write_sidecar,
)
from impasto.devices import resolve_device
from impasto.features.net import feature_net
from impasto.files import atomic_write_text
from impasto.io.images import check_writable
from impasto.lookdev.calibrate import calibrate as calibrate_k
from impasto.lookdev.preview import parse_box
from impasto.lookdev.preview import preview as run_preview


@app.command()
@look_options("look", "u", "style_weights", "network", "weights", "seed", "device", *STYLE_OPTIONS, *MATTE_OPTIONS)
def preview(
    content: Optional[Path] = typer.Argument(None, help="Content image (the plate frame), or a movie frame as MOVIE@N (N counted from 1001; @0 is refused); may come from --look.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="One or more style images (paintings); may come from --look.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Preview image; the look of the final it predicts is written beside it as <stem>.look.toml. (default: <content stem>_preview.png)"),
    final_size: int = typer.Option(_F["size"].default, "--final-size", help="Long edge of the final render in px (the look's size)."),
    scale: float = typer.Option(0.25, "--scale", help="Preview long edge as a fraction of the final's."),
    crop: Optional[str] = typer.Option(None, "--crop", help="x0,y0,x1,y1: render this box of the final (in the final's pixels) at full size instead of scaling."),
    preview_iterations: Optional[int] = typer.Option(None, "--iterations", help="Iterations of the preview (default: the final's)."),
    final_iterations: int = typer.Option(_F["iterations"].default, "--final-iterations", help="Iterations of the final render (the look's iterations)."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Measure k for this pair from renders at --sizes and write it into the look file instead of previewing."),
    sizes: str = typer.Option("128,256,512", "--sizes", help="With --calibrate: the sizes to compare (the largest is the anchor)."),
    candidates: str = typer.Option("0,0.5,1,1.5,2", "--candidates", help="With --calibrate: the k values to try."),
    **options: Any,
) -> None:
    """Preview the final render of a look quickly, with the ratio scaled so u keeps its meaning."""
    device = options["device"]
    with command_errors(interrupted="Interrupted; nothing written.", paints=True):
        look_file, content_path, style_paths = look_inputs(
            options["look"], {"content": content, "styles": styles, "final_size": final_size,
                              "final_iterations": final_iterations, **options},
            rename={"final_size": "size", "final_iterations": "iterations"})
        out = check_writable(output or Path(f"{content_path.stem}_preview.png"))
        if calibrate:
            _calibrate(look_file, content_path, style_paths, out, sizes, candidates, preview_iterations, device)
            return
        box = parse_box(crop) if crop else None
        its = preview_iterations or look_file.look.iterations
        with Reporter("preview", totals={"iteration": its}) as reporter:
            pr = run_preview(content_path, [str(s) for s in style_paths], look_file.look, scale=scale, crop=box,
                             iterations=preview_iterations, device=device, progress=reporter)
        res = pr.result
        final_look = pr.final_look
        if pr.levels:
            final_look = final_look.model_copy(update={"preview": str(out.resolve())})
        record = {"look": pr.final_look.model_dump(), "preview": {"mode": pr.mode, "scale": pr.scale, "crop": pr.crop,
                  "iterations": len(res.history), "ratio": pr.ratio}}
        sidecar = write_painting(out, res.image, record, final_look, content_path, style_paths, res.weights_origin,
                                 res.precision_reason)
    warn_origin(look_file.weights_origin, res.weights_origin)
    print_warnings(res.warnings)
    fh, fw = pr.final_shape
    what = f"crop {','.join(map(str, pr.crop))} at full size" if pr.crop else f"{pr.scale:g} × the final"
    err.print(f"wrote {out} and {sidecar.name} ({res.image.shape[1]}×{res.image.shape[0]}, {what}, u {pr.final_look.u:g}, "
              f"k {pr.final_look.k:g}, ratio {pr.ratio:.3g}, seed {pr.final_look.seed}, {res.seconds:.1f} s on {res.device})",
              highlight=False)
    err.print(f"final render {fw}×{fh}, {pr.final_look.iterations} iterations, ratio {pr.final_ratio:.3g}: about "
              f"{_duration(pr.predicted_final_seconds)} on this machine ({res.device}; an estimate from "
              f"{pr.seconds_per_iteration:.3g} s per preview iteration, scaled by pixel count)", highlight=False)
    if pr.warning:
        err.print(f"warning: {pr.warning}", highlight=False)
    if pr.levels:
        err.print(f"render the final from this preview: impasto stylize --look {sidecar} -o final.png "
                  f"({pr.levels} levels, each kept to the preview with anchor {final_look.anchor:g})", highlight=False)


def _calibrate(look_file, content_path: Path, style_paths: list[Path], out: Path, sizes: str, candidates: str,
               iterations: Optional[int], device: str) -> None:
    size_list = [int(v) for v in parse_floats(sizes, "--sizes") or []]
    cand_list = parse_floats(candidates, "--candidates") or []
    base = look_file.look
    report_path = out.with_name(f"{out.stem}.calibration.json")  # out's folder was checked already

    with Reporter("calibrate") as progress:
        cal = calibrate_k(content_path, [str(s) for s in style_paths], base, sizes=size_list, candidates=cand_list,
                          iterations=iterations, device=device, progress=progress)
    measured = base.model_copy(update={"k": cal.k})
    origin = feature_net(base.network, base.weights, base.pooling, str(resolve_device(device))).origin
    sidecar = write_sidecar(out, measured, content_path, style_paths, origin)
    atomic_write_text(report_path, json.dumps(cal.as_dict(), indent=2))
    for c in cal.candidates:
        fr = " ".join(f"{s}px {cal.fractions[(c, s)]:.3f}" for s in cal.sizes)
        err.print(f"  k {c:<4g} score {cal.score[c]:.3f}  gram distance {cal.gram_distance[c]:.4f}  "
                  f"fraction spread {cal.fraction_spread[c]:.4f}  (style fraction {fr})", highlight=False)
    err.print(f"k = {cal.k:g} for this pair ({cal.iterations} iterations at {','.join(map(str, cal.sizes))} px, "
              f"{cal.seconds:.0f} s); wrote {sidecar} and {report_path.name}", highlight=False)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


