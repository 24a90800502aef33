"""`impasto stylize`: one image, painted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from impasto.version import __version__
from impasto.errors import ImpastoError
from impasto.commands.common import ProgressReporter, app, err, fail
from impasto.commands.look_options import (
    ANCHOR_OPT,
    COMPILE_OPT,
    DEVICE_OPT,
    INIT_OPT,
    ITERATIONS_OPT,
    K_OPT,
    LEVELS_OPT,
    LOOK_OPT,
    LR_OPT,
    MAX_MEMORY_OPT,
    NETWORK_OPT,
    OPTIMIZER_OPT,
    POOLING_OPT,
    PREVIEW_OPT,
    PRECISION_OPT,
    PRESERVE_COLOR_OPT,
    RAW_RATIO_OPT,
    SEED_OPT,
    SIZE_OPT,
    STYLE_SCALE_OPT,
    STYLE_WEIGHTS_OPT,
    TILE_OPT,
    TILE_OVERLAP_OPT,
    TV_WEIGHT_OPT,
    U_OPT,
    WEIGHTS_OPT,
    apply_memory_cap,
    explicit_values,
    origin_warning,
    require_inputs,
    resolve_look,
    write_sidecar,
)


@app.command()
def stylize(
    content: Optional[Path] = typer.Argument(None, help="Content image (the plate frame); may come from --look.", show_default=False),
    styles: Optional[list[Path]] = typer.Argument(None, help="One or more style images (paintings); may come from --look.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image (.png, .jpg, .tif, .exr); the look used is written beside it as <stem>.look.toml. (default: <content stem>_impasto.png in the current folder)"),
    look: Optional[Path] = LOOK_OPT,
    u: float = U_OPT,
    iterations: int = ITERATIONS_OPT,
    size: int = SIZE_OPT,
    style_weights: Optional[str] = STYLE_WEIGHTS_OPT,
    network: str = NETWORK_OPT,
    weights: Optional[Path] = WEIGHTS_OPT,
    seed: Optional[int] = SEED_OPT,
    device: str = DEVICE_OPT,
    optimizer: str = OPTIMIZER_OPT,
    lr: Optional[float] = LR_OPT,
    init: str = INIT_OPT,
    pooling: str = POOLING_OPT,
    style_scale: float = STYLE_SCALE_OPT,
    k: float = K_OPT,
    raw_ratio: bool = RAW_RATIO_OPT,
    tv_weight: float = TV_WEIGHT_OPT,
    preserve_color: str = PRESERVE_COLOR_OPT,
    precision: str = PRECISION_OPT,
    levels: int = LEVELS_OPT,
    anchor: float = ANCHOR_OPT,
    preview: Optional[Path] = PREVIEW_OPT,
    tile: int = TILE_OPT,
    tile_overlap: int = TILE_OVERLAP_OPT,
    compile: bool = COMPILE_OPT,
    max_memory: Optional[str] = MAX_MEMORY_OPT,
) -> None:
    """Paint CONTENT in the style of STYLES (several styles are blended)."""
    from impasto.api import render
    from impasto.io.images import check_writable, write_image

    params = dict(locals())
    try:
        apply_memory_cap(max_memory)
        look_file = resolve_look(look, explicit_values(params))
        content_path, style_paths = require_inputs(look_file)
        out = check_writable(output or Path(f"{content_path.stem}_impasto.png"))
        with ProgressReporter(look_file.look.iterations, "stylize") as reporter:
            result = render(content_path, [str(s) for s in style_paths], look_file.look, device=device, progress=reporter)
        record = {"look": result.look.model_dump(), "ratio": result.ratio, "weights_origin": result.weights_origin,
                  "content": str(content_path), "styles": [str(s) for s in style_paths], "impasto": __version__}
        write_image(out, result.image, {"Software": f"impasto {__version__}", "impasto:look": json.dumps(record)})
        sidecar = write_sidecar(out, result.look, content_path, style_paths, result.weights_origin)
    except ImpastoError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("Interrupted; nothing written.")
        raise typer.Exit(130)
    warning = origin_warning(look_file.weights_origin, result.weights_origin)
    if warning:
        err.print(f"[yellow]warning:[/] {warning}.", highlight=False)
    if result.fp32_from is not None:
        err.print(f"bf16 stopped improving at iteration {result.fp32_from}; the render went on in fp32 from there.",
                  highlight=False)
    err.print(f"wrote {out} and {sidecar.name} ({result.image.shape[1]}×{result.image.shape[0]}, u {result.look.u:g}, "
              f"ratio {result.ratio:.3g}, seed {result.look.seed}, {result.seconds:.1f} s on {result.device})", highlight=False)
