"""`impasto demo`: the main job with nothing to supply."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from impasto.api import render
from impasto.commands.common import _F, app, command_errors, err, make_look
from impasto.commands.progress import Reporter
from impasto.demo import before_after, demo_content, demo_style_path
from impasto.io.images import check_writable, write_image
from impasto.version import __version__


@app.command()
def demo(
    output: Path = typer.Option(Path("impasto_demo.png"), "-o", "--output", help="Where to write the painted image."),
    u: float = typer.Option(_F["u"].default, "--u", help="Unrealness."),
    iterations: int = typer.Option(_F["iterations"].default, help="Optimiser iterations."),
    size: int = typer.Option(_F["size"].default, help="Output long edge in px."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Paint a bundled sample photo in the style of a bundled painting (Van Gogh's The Starry Night); also writes a before/after."""
    with command_errors(paints=True):
        look = make_look(u=u, iterations=iterations, size=size, seed=seed)
        out = check_writable(output)
        content = demo_content()
        with Reporter("demo", totals={"iteration": look.iterations}) as reporter:
            result = render(content, str(demo_style_path()), look, device=device, progress=reporter)
        record = {"look": result.look.model_dump(), "ratio": result.ratio, "weights_origin": result.weights_origin}
        write_image(out, result.image, {"Software": f"impasto {__version__}", "impasto:look": json.dumps(record)})
        pair = write_image(out.with_name(f"{out.stem}_before_after{out.suffix}"), before_after(content, result.image))
    err.print(f"wrote {out} and {pair} ({result.seconds:.1f} s on {result.device})", highlight=False)
    err.print(f"precision {result.precision_reason}", highlight=False)
