"""`impasto farm export SHOT -o JOB/`: the shot's plan as an Open Job Description job bundle for a studio farm."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from impasto.commands.common import app, command_errors, err
from impasto.commands.render import CLUSTER, _boil_note, _count, _rel
from impasto.errors import UsageError
from impasto.farm.openjd import PARAMETER_VALUES, PRECISIONS, RUN_PARAMETERS, TEMPLATE, build_job, write_bundle
from impasto.files import output_folder_problem
from impasto.io.sequence import format_frame_range, parse_frame_range
from impasto.shot.config import load_shot
from impasto.shot.render import ShotRenderer

farm_app = typer.Typer(help="Render shots on a studio farm (Open Job Description: AWS Deadline Cloud, openjd run).",
                       no_args_is_help=True)
app.add_typer(farm_app, name="farm")


@farm_app.command("export")
def export(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml), from impasto shot init.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Job bundle folder to write: template.json, parameter_values.json (deadline bundle submit FOLDER) and openjd_parameters.json (openjd run FOLDER/template.json -p file://FOLDER/openjd_parameters.json).", show_default=False),
    frames: Optional[str] = typer.Option(None, "--frames", help="Only these frames, e.g. 1001-1010. (default: the whole shot)"),
    frames_per_task: int = typer.Option(CLUSTER["frames_per_task"], "--frames-per-task", help="At boil 0: frames per farm task (each task is one impasto render --frames A-B). At boil above 0 the keyframes are one task (each its own with temporal.keyframes = independent) and each chunk of temporal.chunk frames another."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle folder."),
    precision: str = typer.Option("fp32", "--precision", help=f"What the look's precision 'auto' means on every worker ({', '.join(PRECISIONS)}), pinned so all frames render in one precision."),
    impasto: Optional[str] = typer.Option(None, "--impasto", help="The impasto command on the workers. (default: this installation's)"),
) -> None:
    """Write an Open Job Description job that paints the frames of SHOT not done yet on a farm.

    Every task runs impasto render SHOT --frames A-B on the same shot file, so the manifest, the frame locks, \
resume and impasto status are a local render's. Boil 0 is one step of frame ranges; boil above 0 a keyframe step, \
then a chunk step that depends on it. The workers must reach the shot's folder and its output folder (map them \
with OpenJD path mapping rules where they mount the project elsewhere) and run the same impasto version."""
    with command_errors(os_error=f"Could not write the job bundle '{output}'"):
        shot = load_shot(shot_file)
        wanted = parse_frame_range(frames) if frames else None
        problem = output_folder_problem(shot.output_folder())
        if problem:
            raise UsageError(problem)
        if output.exists() and not force:
            raise UsageError(f"'{output}' already exists; pass --force to replace it, or choose another folder.")
        with ShotRenderer(shot, device="cpu") as renderer:
            shot.resolved_look()  # a missing look or style image: one sentence before anything is written
            plan = renderer.plan(wanted)
        job = build_job(shot, plan, frames_per_task=frames_per_task, executable=impasto, precision=precision)
        folder = write_bundle(job, output, force=force)
    label = f"{shot.name} v{shot.output.version:03d}"
    tasks = ", ".join(f"{name} ({_count(len(t), 'task')})" for name, t in job.steps.items())
    missing = f"; {_count(len(plan.missing), 'plate frame')} missing ({format_frame_range(plan.missing)}), left out" \
        if plan.missing else ""
    err.print(f"{label}: wrote {_rel(folder)}/ ({TEMPLATE}, {PARAMETER_VALUES}, {RUN_PARAMETERS}): {len(plan.todo)} of "
              f"{len(plan.frames)} frames{_boil_note(shot)}; steps {tasks}{missing}.", highlight=False, soft_wrap=True)
    err.print(f"submit it: deadline bundle submit {_rel(folder)}", highlight=False, soft_wrap=True)
    err.print(f"or run it here: openjd run {_rel(folder / TEMPLATE)} -p file://{_rel(folder / RUN_PARAMETERS)} "
              f"--step {list(job.steps)[-1]} --run-dependencies", highlight=False, soft_wrap=True)
