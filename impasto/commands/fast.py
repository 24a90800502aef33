"""`impasto fast ...`: train a feed-forward model for one look over a range of u, then paint with it instantly."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from impasto.commands.common import Command, app, command_errors, err, shared_options
from impasto.commands.progress import Reporter
from impasto.commands.look_options import resolve_look
from impasto.errors import UsageError
from impasto.fast.compare import compare, write_compare_sheet, write_sweep_sheet
from impasto.fast.core import FastModel, load_model, style_identity
from impasto.fast.learn import LearnSettings, learn
from impasto.fast.sweeps import sweep_paintings
from impasto.fast.export import TOLERANCE, export_onnx
from impasto.fast.train import TrainSettings, _display_frame, read_training_frames, train
from impasto.features.net import feature_net
from impasto.io.images import check_writable, read_image, write_image
from impasto.io.tensors import load_rgb
from impasto.lookdev.sweep import parse_values
from impasto.shot.config import default_input_space
from impasto.version import __version__

fast_app = typer.Typer(
    help="Instant u: a feed-forward model for one style, conditioned on u (train once per look, then paint any u in its range in milliseconds).",
    no_args_is_help=True,
)
app.add_typer(fast_app, name="fast")

# fast train's defaults are TrainSettings' (and read_training_frames' for --max-frames): stated there, once.
TRAIN = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
MAX_FRAMES = inspect.signature(read_training_frames).parameters["max_frames"].default
DEVICE_OPT = typer.Option(TRAIN["device"], help="auto (CUDA when present), cpu, cuda, cuda:N or mps.")
SIZE_OPT = typer.Option(None, help="Long edge to paint at, px. (default: the size the model was trained at)")
INPUT_SPACE_OPT = typer.Option(None, "--input-space", help="Colour space of EXR/DPX plates (OCIO name). (default: ACEScg for EXR, sRGB for other images)")
MODEL_ARG = typer.Argument(..., metavar="MODEL", help="Fast model file from impasto fast train.", show_default=False)
IMAGE_ARG = typer.Argument(..., help="Frame or image to paint.", show_default=False)
# What painting with a model takes: stylize, sweep and compare offer these (size after -o, the others last).
PAINT_OPTIONS = {"size": (Optional[int], SIZE_OPT), "input_space": (Optional[str], INPUT_SPACE_OPT),
                 "device": (str, DEVICE_OPT)}


def _painting(name: str) -> Callable[[Command], Command]:
    """Register a `fast` command that paints with a model: --size goes after its -o, --input-space and --device last
    (it takes them as `**options`)."""
    def register(command: Command) -> Command:
        command = shared_options(PAINT_OPTIONS, "size", after="output")(command)
        return fast_app.command(name)(shared_options(PAINT_OPTIONS, "input_space", "device")(command))

    return register


def _u_range(text: str) -> tuple[float, float]:
    parts = text.replace(",", ":").split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2:
        raise UsageError(f"--u '{text}' is not a range; give the lowest and highest u like 2:6.")
    return values[0], values[1]


def _writable_file(path: Path, what: str) -> Path:
    """A non-image output (model, ONNX): its folder must exist and take files."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"The {what} '{path}' is a folder; give a file name.")
    if not folder.is_dir():
        raise UsageError(f"The folder for the {what} '{path}' does not exist.")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"The folder for the {what} '{path}' is not writable.")
    return path


def _read_picture(path: Path, input_space: Optional[str]):
    """An image or plate frame as the display-referred 0-1 picture the model paints (as training saw frames)."""
    if path.suffix.lower() in (".exr", ".dpx", ".hdr"):
        return _display_frame(path, input_space or default_input_space(str(path)))
    return read_image(path)


def _paint(model: FastModel, image: Path, us: list[float], *, size: Optional[int], input_space: Optional[str],
           device: str) -> tuple[list, float]:
    """IMAGE painted at each u, and the seconds the painting took (reading the image not counted)."""
    rgb = _read_picture(image, input_space)
    start = time.perf_counter()
    painted = model.paint(rgb, us, size=size, device=device)
    return painted, time.perf_counter() - start


def _check_look(model, look_path: Optional[Path]) -> None:
    """With --look: the model must have been trained for that look's style."""
    if look_path is None:
        return
    look_file = resolve_look(look_path, {})
    if not look_file.styles:
        raise UsageError(f"Look file '{look_path}' names no style images.")
    styles = [load_rgb(s, "style image") for s in look_file.styles]
    origin = feature_net(look_file.look.network, look_file.look.weights, look_file.look.pooling, "cpu").origin
    model.check_style(styles, look_file.look, origin, f"look '{look_path.name}'")


def _model_styles(model, look_path: Optional[Path]):
    """The style images for the optimisation side of compare: the look's, else those the model was trained with."""
    paths = resolve_look(look_path, {}).styles if look_path is not None else model.styles
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        what = f"'{missing[0]}' is missing" if missing else "the model names no style images"
        raise UsageError(f"The style images are needed for the optimisation ({what}); pass the look with --look.")
    return [load_rgb(p, "style image") for p in paths]


@fast_app.command("train")
def train_cmd(
    look: Path = typer.Argument(..., help="Look file (.toml) naming the style images and the look's settings.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Model file to write (.pt); its checkpoint goes beside it as <name>.ckpt.", show_default=False),
    plate: Optional[str] = typer.Option(None, "--plate", help="The shot's frames to train on: a shot file (cs010.toml: its plate through the shot's [colour], the pictures its render paints), a pattern like 'plates/cs010.####.exr', a movie (frames spread over it, near-black ones skipped; 'clip.mov@1040-1100' for a range numbered from 1001), or one image. (default: the look's content image)"),
    u: str = typer.Option("{:g}:{:g}".format(*TRAIN["u_range"]), "--u", help="u range the model covers, lowest:highest."),
    steps: int = typer.Option(TRAIN["steps"], help="Training steps (a GPU wants 20000+ for a polished model)."),
    batch: int = typer.Option(TRAIN["batch"], help="Crops per step; each gets its own u."),
    crop: int = typer.Option(TRAIN["crop"], help="Crop edge in px, taken from frames scaled to the paint size."),
    size: Optional[int] = typer.Option(TRAIN["size"], help="Paint long edge the model learns strokes for. (default: the look's size)"),
    preset: str = typer.Option(TRAIN["preset"], help="Network size: tiny (tests), small (fast on a CPU), large (Johnson's widths; GPU)."),
    lr: float = typer.Option(TRAIN["lr"], help="Adam learning rate."),
    max_frames: int = typer.Option(MAX_FRAMES, help="Plate frames to train on, spread over the shot."),
    general_fraction: float = typer.Option(TRAIN["general_fraction"], help="Share of crops from scikit-image's bundled photos, so the model generalises."),
    input_space: Optional[str] = INPUT_SPACE_OPT,
    checkpoint_every: int = typer.Option(TRAIN["checkpoint_every"], help="Steps between checkpoints."),
    minutes: Optional[float] = typer.Option(TRAIN["time_limit"], help="Stop after this many minutes (the model is written; rerun with more --steps to go on)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming from the checkpoint."),
    seed: int = typer.Option(TRAIN["seed"], help="Random seed."),
    device: str = DEVICE_OPT,
    compile_net: Optional[bool] = typer.Option(TRAIN["compile"], "--compile/--no-compile", help="torch.compile the network. (default: on CUDA)"),
    amp: Optional[bool] = typer.Option(TRAIN["amp"], "--bf16/--fp32", help="bf16 autocast. (default: on CUDA)"),
) -> None:
    """Train a fast model for LOOK's style over a range of u, on the shot's own frames."""
    with command_errors(interrupted=f"Interrupted; the checkpoint beside {output} keeps the progress: run the same command to resume.", paints=True):
        look_file = resolve_look(look, {})
        if not look_file.styles:
            raise UsageError(f"Look file '{look}' names no style images.")
        source = plate or look_file.content
        if not source:
            raise UsageError("Give the shot's frames with --plate (or a look file that names a content image).")
        settings = TrainSettings(
            u_range=_u_range(u), steps=steps, batch=batch, crop=crop, lr=lr, preset=preset, size=size,
            general_fraction=general_fraction, checkpoint_every=max(1, checkpoint_every), seed=seed, device=device,
            compile=compile_net, amp=amp, time_limit=None if minutes is None else 60.0 * minutes,
        )
        settings.check()
        if max_frames < 1:
            raise UsageError("--max-frames must be at least 1.")
        _writable_file(output, "model file")
        styles = [load_rgb(s, "style image") for s in look_file.styles]
        frames, names = read_training_frames(str(source), max_frames=max_frames, input_space=input_space)
        err.print(f"training on {len(frames)} frame(s) of {source} ({frames[0].shape[1]}×{frames[0].shape[0]}) "
                  f"+ {settings.general_fraction:.0%} general photos, u {settings.u_range[0]:g} to {settings.u_range[1]:g}",
                  highlight=False, soft_wrap=True)
        if minutes is not None:
            until = time.strftime("%H:%M", time.localtime(time.time() + 60.0 * minutes))
            err.print(f"training stops after {minutes:g} minute{'s' if minutes != 1 else ''} (about {until}) or at "
                      f"step {settings.steps}, whichever comes first", highlight=False, soft_wrap=True)
        with Reporter("fast train", totals={"step": settings.steps}, time_limit=settings.time_limit) as reporter:
            result = train(look_file.look, styles, frames, output, settings, style_paths=look_file.styles,
                           sources={"plate": str(source), "frame_names": names[:64]}, resume=not fresh, progress=reporter)
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    buckets = ", ".join(f"{k} {result.first.get(k, float('nan')):.3f} -> {v:.3f}" for k, v in result.last.items())
    err.print(f"wrote {output}: {result.steps} steps{resumed} in {result.seconds:.0f} s on {result.model.record['device']}; "
              f"loss per u bucket (1.0 = the unpainted frame): {buckets}", highlight=False, soft_wrap=True)


LEARN = {f.name: f.default for f in dataclasses.fields(LearnSettings)}


@fast_app.command("learn")
def learn_cmd(
    sweep: Path = typer.Argument(..., help="Sweep folder (impasto sweep) of one frame over u: the painter learns its cells.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Model file to write (.pt); its checkpoint goes beside it as <name>.ckpt.", show_default=False),
    style: Optional[str] = typer.Option(None, "--style", help="The sweep's style image to learn (its file name), when it holds several."),
    seed: Optional[int] = typer.Option(None, "--seed", help="The sweep's seed to learn. (default: its lowest)"),
    leave_out: Optional[str] = typer.Option(None, "--leave-out", help="u values of the sweep not to learn from, like 3,5 (to judge the painter on them with fast compare)."),
    look: Optional[Path] = typer.Option(None, "--look", help="Check the sweep painted this look's style; refuse it otherwise."),
    steps: int = typer.Option(LEARN["steps"], help="Learning steps."),
    batch: int = typer.Option(LEARN["batch"], help="Patches per step."),
    patch: int = typer.Option(LEARN["patch"], help="Patch edge in px of the sweep's paint size (a multiple of 4)."),
    lr: float = typer.Option(LEARN["lr"], help="Adam learning rate."),
    gatys_weight: float = typer.Option(LEARN["gatys_weight"], "--gatys-weight", help="Weight of the look's own loss at u between the cells (0: the paintings alone)."),
    preset: str = typer.Option(LEARN["preset"], help="Network: learned, or learned-tiny (tests)."),
    checkpoint_every: int = typer.Option(LEARN["checkpoint_every"], help="Steps between checkpoints."),
    minutes: Optional[float] = typer.Option(LEARN["time_limit"], help="Stop after this many minutes (the model is written; rerun with more --steps to go on)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming from the checkpoint."),
    device: str = DEVICE_OPT,
) -> None:
    """Learn a painter from the paintings a sweep made of one frame over u: it paints that frame, and the shot's
    other frames, at any u inside the swept range in milliseconds (fast stylize, fast sweep, the studio's slider)."""
    with command_errors(interrupted=f"Interrupted; the checkpoint beside {output} keeps the progress: run the same command to resume.", paints=True):
        settings = LearnSettings(steps=steps, batch=batch, patch=patch, lr=lr, preset=preset, gatys_weight=gatys_weight,
                                 checkpoint_every=max(1, checkpoint_every), device=device,
                                 time_limit=None if minutes is None else 60.0 * minutes)
        settings.check()
        _writable_file(output, "model file")
        left = parse_values(leave_out, "--leave-out") if leave_out else []
        found = sweep_paintings(sweep, style=style, seed=seed, leave_out=left)
        if look is not None:
            look_file = resolve_look(look, {})
            styles = [load_rgb(s, "style image") for s in look_file.styles]
            origin = feature_net(look_file.look.network, look_file.look.weights, look_file.look.pooling, "cpu").origin
            mine = style_identity(found.style_rgbs, found.look, origin)
            if not look_file.styles or style_identity(styles, look_file.look, origin) != mine:
                raise UsageError(f"Sweep '{sweep}' painted another look than '{look.name}' (style images, style settings "
                                 "or network differ); learn from a sweep of that look.")
        h, w = found.examples[0].content.shape[:2]
        us = ", ".join(f"{e.u:g}" for e in found.examples)
        err.print(f"learning from {len(found.examples)} cells of {sweep} ({w}×{h}, {found.iterations} iterations, seed "
                  f"{found.seed}) at u {us}" + (f", leaving out u {', '.join(f'{u:g}' for u in left)}" if left else ""),
                  highlight=False, soft_wrap=True)
        with Reporter("fast learn", totals={"step": settings.steps}, time_limit=settings.time_limit) as reporter:
            result = learn(found.look, found.style_rgbs, found.examples, output, settings, style_paths=found.style_paths,
                           sources=found.sources(), resume=not fresh, progress=reporter)
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    err.print(f"wrote {output}: {result.steps} steps{resumed} in {result.seconds:.0f} s on {result.model.record['device']}, "
              f"u {result.model.describe_range()}; loss {result.first:.4f} -> {result.last:.4f}", highlight=False, soft_wrap=True)


@_painting("stylize")
def stylize_cmd(
    model_path: Path = MODEL_ARG,
    image: Path = IMAGE_ARG,
    u: float = typer.Option(..., "--u", help="u to paint at (inside the model's trained range).", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output image. (default: <image stem>_fast.png)"),
    look: Optional[Path] = typer.Option(None, "--look", help="Check the model was trained for this look's style."),
    **options: Any,
) -> None:
    """Paint IMAGE at one u with a fast model."""
    with command_errors():
        model = load_model(model_path)
        model.check_u([u])
        _check_look(model, look)
        out = check_writable(output or Path(f"{image.stem}_fast.png"))
        [painted], seconds = _paint(model, image, [u], **options)
        record = {"fast_model": str(model_path), "style_id": model.style_id, "u": u, "impasto": __version__}
        write_image(out, painted, {"Software": f"impasto {__version__}", "impasto:fast": json.dumps(record)})
    err.print(f"wrote {out} ({painted.shape[1]}×{painted.shape[0]}, u {u:g}, {seconds * 1000:.0f} ms)", highlight=False)


@_painting("sweep")
def sweep_cmd(
    model_path: Path = MODEL_ARG,
    image: Path = IMAGE_ARG,
    u: str = typer.Option("2:6:0.5", "--u", help="u values: first:last:step or a list like 3,4,5 (inside the trained range)."),
    output: Path = typer.Option(Path("fast_sweep.png"), "-o", "--output", help="Contact sheet to write (.png)."),
    thumb: int = typer.Option(256, help="Thumbnail long edge on the sheet, px."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Also write each painted picture here as u<value>.png."),
    **options: Any,
) -> None:
    """Paint IMAGE at many u values at once (the frame is encoded once) and lay them out on a sheet."""
    with command_errors(os_error="Could not write the sweep"):
        model = load_model(model_path)
        us = parse_values(u, "--u")
        model.check_u(us)
        out = check_writable(output)
        images, seconds = _paint(model, image, us, **options)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            for value, img in zip(us, images):
                write_image(folder / f"u{value:g}.png", img)
        h, w = images[0].shape[:2]
        write_sweep_sheet(images, us, out, f"{image.name}: {len(us)} looks from {model_path.name} at {w}x{h} in {seconds:.2f} s",
                          thumb=thumb)
    err.print(f"wrote {out}: {len(us)} values of u at {w}×{h} in {seconds:.2f} s ({seconds / len(us) * 1000:.0f} ms each)",
              highlight=False)


@_painting("compare")
def compare_cmd(
    model_path: Path = MODEL_ARG,
    frames: list[Path] = typer.Argument(..., help="Frames to compare on (frames of the trained shot).", show_default=False),
    u: str = typer.Option("2,4,6", "--u", help="u values: a list like 2,4,6 or first:last:step."),
    output: Path = typer.Option(Path("fast_compare.png"), "-o", "--output", help="Side-by-side sheet (.png); the numbers go beside it as .json."),
    iterations: int = typer.Option(256, help="Optimisation iterations for the reference renders."),
    look: Optional[Path] = typer.Option(None, "--look", help="The look (for its style images, and to check the model is for it). (default: the style images the model was trained with)"),
    **options: Any,
) -> None:
    """Paint FRAMES at several u with the fast model and the optimisation engine; report the engine's loss of each
    and how many optimisation iterations the fast picture is worth."""
    with command_errors(paints=True):
        model = load_model(model_path)
        us = parse_values(u, "--u")
        model.check_u(us)
        if iterations < 1:
            raise UsageError("--iterations must be at least 1.")
        _check_look(model, look)
        out = check_writable(output)
        styles = _model_styles(model, look)
        pictures = [(f.name, _read_picture(f, options["input_space"])) for f in frames]

        with Reporter("compare") as note:
            report = compare(model, pictures, us, styles, size=options["size"], iterations=iterations,
                             device=options["device"], progress=note)
        write_compare_sheet(report, out)
        rows = [{"frame": r.frame, "u": r.u, "fast": r.fast, "optimised": r.optimised,
                 "relative": {k: r.relative(k) for k in ("style", "content", "total")},
                 "matching_iteration": r.matching_iteration(), "style_by_layer": r.style_layers,
                 "style_distance": r.style_distance, "seen_in_training": r.seen,
                 "fast_seconds": r.fast_seconds, "optimised_seconds": r.optimised_seconds} for r in report.rows]
        out.with_suffix(".json").write_text(json.dumps({"size": report.size, "iterations": iterations, "rows": rows}, indent=2))
    typer.echo(f"{'frame':<24} {'u':>5} {'seen':>5} {'style fast/opt':>15} {'content fast/opt':>17} {'total fast/opt':>15} "
               f"{'style distance':>15} {'worth iterations':>17}")
    for r in report.rows:
        typer.echo(f"{r.frame[:24]:<24} {r.u:>5g} {'yes' if r.seen else 'no':>5} {r.relative('style'):>15.2f} "
                   f"{r.relative('content'):>17.2f} {r.relative('total'):>15.2f} {r.style_distance:>15.3g} "
                   f"{_worth(r.matching_iteration(), iterations):>17}")
    err.print(f"wrote {out} and {out.with_suffix('.json').name} (losses: the engine's, at {report.size} px; "
              f"fast/opt above 1 means the fast model is further from the optimum; 'worth iterations': the "
              f"optimisation iteration whose loss the fast picture matches; 'seen': a learned painter learned from that frame "
              f"at that u, so judge it on the rows that say no; 'style distance': between the fast and the optimised "
              f"picture's Gram matrices)", highlight=False, soft_wrap=True)


def _worth(n: int | None, iterations: int) -> str:
    return str(n) if n is not None else f"> {iterations}"


@fast_app.command("export")
def export_cmd(
    model_path: Path = MODEL_ARG,
    output: Path = typer.Option(..., "-o", "--output", help="ONNX file to write.", show_default=False),
) -> None:
    """Export a fast model to ONNX (inputs image 1×3×H×W in 0-1 with H, W multiples of 4, and u; output painted)."""
    with command_errors():
        model = load_model(model_path)
        out = _writable_file(output, "ONNX file")
        report = export_onnx(model, out)
    err.print(f"wrote {report.path} (u {model.describe_range()}; onnxruntime matches torch to {report.max_difference:.1e}, "
              f"tolerance {TOLERANCE:g})", highlight=False)


@fast_app.command("info")
def info_cmd(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Fast model file.", show_default=False),
) -> None:
    """What a fast model was trained for: u range, style, size, network and training record."""
    with command_errors():
        model = load_model(model_path)
    info = {"u_range": list(model.u_range), "style_id": model.style_id, "size": model.size,
            "weights_origin": model.weights_origin, "styles": model.styles, "network": model.config.as_dict(),
            "record": model.record}
    typer.echo(json.dumps(info, indent=2))
