"""`impasto style-image build|check`: assemble a style image from painting photos, and check its quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from impasto.commands.common import app, command_errors, err
from impasto.commands.look_options import resolve_look
from impasto.errors import ImpastoError, UsageError
from impasto.look import Look

style_image_app = typer.Typer(
    help="Build a style image from photos of a painting, and check one for clipping, blur, casts and JPEG blocking.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(style_image_app, name="style-image")

_FINAL_HELP = "Long edge of the final render the style image is for (default: the look's default size, 512)."
_SCALE_HELP = "Style image long edge relative to the render's, as in the look (the engine's style_scale)."


def _detail(d) -> str:
    x = d.detail
    if d.name in ("clipped_highlights", "crushed_shadows"):
        return " ".join(f"{c} {x[c]:.2%}" for c in "RGB")
    if d.name == "resolution":
        return f"render needs ×{x['upscale']:.2f}" if x["upscale"] > 1 else f"render uses ×{x['upscale']:.2f}"
    if d.name == "sharpness":
        return f"at {x['analysis_width']:.0f}×{x['analysis_height']:.0f}"
    if d.name == "colour_cast":
        return f"a {x['a']:+.1f} b {x['b']:+.1f} R/G {x['r_over_g']:.2f} B/G {x['b_over_g']:.2f}"
    if d.name == "jpeg_blocking":
        return f"grid at x+{x['x_phase']:.0f} y+{x['y_phase']:.0f}"
    return ""


_LABELS = {"clipped_highlights": "clipped highlights", "crushed_shadows": "crushed shadows",
           "resolution": "long edge (px)", "sharpness": "sharpness (fine/mid)", "texture": "texture (RMS detail)",
           "colour_cast": "colour cast (Lab)", "jpeg_blocking": "JPEG blocking (8×8)"}


def _print_check(report, console: Console, owner: str | None = None) -> None:
    table = Table(title=f"{owner + ': ' if owner else ''}{report.image}  {report.width}×{report.height}  for a "
                  f"{report.final_size} px render", title_justify="left")
    table.add_column("check")
    table.add_column("value", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("")
    table.add_column("detail", style="dim")
    for d in report.diagnostics:
        sign = "≤ " if d.limit == "max" else "≥ "
        if d.unit.startswith("fraction"):
            value, thr = f"{d.value:.2%}", f"{sign}{d.threshold:.0%}"
        else:
            value, thr = f"{d.value:.4g}", f"{sign}{d.threshold:.4g}"
        table.add_row(_LABELS.get(d.name, d.name), value, thr, "[green]ok[/]" if d.ok else "[bold yellow]warn[/]", _detail(d))
    console.print(table)


def _print_warnings(warnings: list[str], console: Console) -> None:
    for w in warnings:
        console.print(f"[bold yellow]warning:[/] {w}", highlight=False)


@style_image_app.command("build")
def build(
    photos: list[Path] = typer.Argument(..., help="One or more photos of the painting; boxes name them 0, 1, ... (0 is the default).", show_default=False),
    crop: Optional[str] = typer.Option(None, "--crop", help="Main region [N:]x0,y0,x1,y1 in source pixels (default: all of photo 0)."),
    block: Optional[list[str]] = typer.Option(None, "--block", help="Colour or texture block [N:]x0,y0,x1,y1, e.g. 1:40,30,300,200 from the second photo; repeat for more."),
    size: Optional[int] = typer.Option(None, "--size", help="Long edge of the style image in px (default: what --final-size needs, else 1024)."),
    layout: str = typer.Option("auto", "--layout", help="Where the blocks go: auto (the squarer result), below or right of the crop."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Style image to write (.png, .jpg, .tif, .exr). (default: <first photo stem>_style.png)"),
    final_size: Optional[int] = typer.Option(None, "--final-size", help=_FINAL_HELP),
    style_scale: float = typer.Option(Look.model_fields["style_scale"].default, "--style-scale", help=_SCALE_HELP),
) -> None:
    """Crop regions from PHOTOS and pack the main crop and blocks into one style image, with a JSON report beside it."""
    from impasto.lookdev.style_image import (  # deferred: it pulls in scipy, slow to import for every command
        DEFAULT_BUILD_SIZE,
        build_style_image,
        parse_box,
        report_path,
        required_edge,
    )

    with command_errors():
        boxes = [parse_box(b, "--block") for b in (block or [])]
        main = parse_box(crop, "--crop") if crop is not None else None
        final = final_size if final_size is not None else Look.model_fields["size"].default
        if size is None:
            size = required_edge(final, style_scale) if final_size is not None else DEFAULT_BUILD_SIZE
        out = output or Path(f"{photos[0].stem}_style.png")
        result = build_style_image([str(p) for p in photos], out, crop=main, blocks=boxes, size=size,
                                   layout=layout, final_size=final, style_scale=style_scale)  # type: ignore[arg-type]
    rep = result.report
    console = Console()
    _print_check(rep.check, console)
    _print_warnings(rep.warnings, console)
    err.print(f"wrote {rep.output} ({rep.width}×{rep.height}, crop + {len(rep.regions) - 1} block(s), blocks {rep.layout}) "
              f"and {report_path(rep.output)}", highlight=False)


@style_image_app.command("check")
def check(
    image: Optional[Path] = typer.Argument(None, help="Style image to check (or give --look).", show_default=False),
    look: Optional[Path] = typer.Option(None, "--look", help="Check every style image of this look file instead: its own and each region's, each said to belong to the look or to its region, for the look's size and style scale (each report written beside its image)."),
    final_size: Optional[int] = typer.Option(None, "--final-size", help=_FINAL_HELP),
    style_scale: float = typer.Option(Look.model_fields["style_scale"].default, "--style-scale", help=_SCALE_HELP),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there is any warning."),
    report: Optional[Path] = typer.Option(None, "--report", help="Where to write the JSON report (default: <image>.report.json; with --look always that, for each image)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
) -> None:
    """Report clipping, resolution for the final size, blur and texture, colour cast and JPEG blocking of IMAGE (or of
    every style image of a --look, its regions' included)."""
    from impasto.lookdev.style_image import (  # deferred: it pulls in scipy, slow to import for every command
        check_style_image,
        file_sha256,
        report_path,
        write_json,
    )

    if look is not None:
        with command_errors():
            if image is not None or report is not None:
                raise UsageError(f"Give a style image or --look, not both{' (and no --report: each image gets its own)' if report else ''}.")
        _check_look(look, final_size, strict, as_json)
        return
    with command_errors():
        if image is None:
            raise UsageError("Give a style image to check, or --look with a look file.")
        if not image.is_file() and image.exists():
            raise UsageError(f"'{image}' is a folder, not an image.")
        final = final_size if final_size is not None else Look.model_fields["size"].default
        result = check_style_image(image, final, style_scale)
        target = report or report_path(image)
        data: dict = {"check": result.as_json()}
        # Keep the build record when it describes this very file (same bytes), so the report stays whole.
        if target.is_file():
            try:
                old = json.loads(target.read_text(encoding="utf-8"))
                build_rec = old.get("build") if isinstance(old, dict) else None
                if isinstance(build_rec, dict) and build_rec.get("sha256") == file_sha256(image):
                    data = {"build": build_rec, **data}
            except (OSError, ValueError):
                pass  # an unreadable old report is simply replaced
        write_json(target, data)
    if as_json:
        typer.echo(json.dumps(data["check"], indent=2, ensure_ascii=False))
    else:
        console = Console()
        _print_check(result, console)
        _print_warnings(result.warnings, console)
        err.print(f"wrote {target}", highlight=False)
    if strict and result.warnings:
        raise typer.Exit(1)


def _check_look(path: Path, final_size: Optional[int], strict: bool, as_json: bool) -> None:
    """`check --look`: every style image of a look (its own, then each region's), each named with its owner."""
    from impasto.lookdev.style_image import (  # deferred: it pulls in scipy, slow to import for every command
        check_style_image,
        look_style_images,
        report_path,
        write_json,
    )

    with command_errors():
        record = resolve_look(path, {})  # paths relative to the look file, as every command reads them
        owned = look_style_images(record)
        if not owned:
            raise UsageError(f"The look file '{path}' names no style images (neither its own nor a region's).")
        final = final_size if final_size is not None else record.look.size
    console = Console()
    reports, failed, warned = [], 0, False
    for owner, image in owned:
        try:
            result = check_style_image(image, final, record.look.style_scale)
            write_json(report_path(image), {"check": result.as_json()})
        except ImpastoError as exc:  # one image unreadable: say which, check the others
            failed += 1
            err.print(f"[bold red]error:[/] {owner} style image '{escape(image)}': {escape(str(exc))}", highlight=False)
            continue
        reports.append({"belongs_to": owner, **result.as_json()})
        warned = warned or bool(result.warnings)
        if not as_json:
            _print_check(result, console, owner)
            for w in result.warnings:
                console.print(f"[bold yellow]warning:[/] {owner} style image '{escape(image)}': {escape(w)}",
                              highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    else:
        err.print(f"checked {len(reports)} of {len(owned)} style images of {path}; each report is beside its image",
                  highlight=False)
    if failed:
        raise typer.Exit(2)
    if strict and warned:
        raise typer.Exit(1)
