"""A shot's plan as an Open Job Description job: the template a studio farm (AWS Deadline Cloud, any OpenJD runner)
runs, and its parameter values, written as a job bundle.

Every task runs `impasto render SHOT --frames A-B` on the same shot file, so the manifest, the frame locks, resume
and `impasto status` are a local render's. The steps follow the planner (`impasto.shot.plan.units`): at boil 0 one
step whose `CHUNK[INT]` task parameter (OpenJD's TASK_CHUNKING extension) cuts the frames left into contiguous
ranges of `frames_per_task`; at boil above 0 a keyframe step (the keyframes in one task when each is painted from
the one before, one task each when they are independent), then a chunk step that depends on it, one task per
boil chunk (its frames held toward its two keyframes; forward, painted in order, each from the one before); with
render.learned a keyframe step, a step of one task that learns the painter (and paints one frame), then the rest.

The template names the shot file, its folder, the output folder and the impasto executable by PATH parameters, so
a farm whose workers mount the project elsewhere maps them with OpenJD path mapping rules; a job environment pins
what every worker must agree on: the impasto version (`IMPASTO_REQUIRE_VERSION`, checked by every impasto command)
and what `auto` precision means (`IMPASTO_AUTO_PRECISION`), so every frame renders in one precision.

The template is checked with `openjd-model` (pinned in the `farm` extra) before anything is written: its schema,
and that its tasks paint every frame of the plan exactly once, each boil chunk within one task.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import UsageError
from impasto.files import output_folder_problem
from impasto.io.sequence import format_frame_range, parse_frame_range
from impasto.shot.config import Shot
from impasto.shot.plan import TRAIN, Plan, Unit, units
from impasto.version import __version__

SPECIFICATION = "jobtemplate-2023-09"
EXTENSIONS = ["TASK_CHUNKING"]
TEMPLATE = "template.json"
PARAMETER_VALUES = "parameter_values.json"  # Deadline Cloud's form: {"parameterValues": [{"name", "value"}]}
RUN_PARAMETERS = "openjd_parameters.json"  # openjd run's form: {"name": "value"} (openjd run -p file://...)
PRECISIONS = ("fp32", "tf32", "bf16")
INSTALL_HINT = "pip install 'impasto[farm]'"
VERSION_ENV = "IMPASTO_REQUIRE_VERSION"


@dataclass(frozen=True)
class FarmJob:
    """A shot's farm job: the OpenJD template, its parameter values, and the plan it came from."""

    template: dict[str, Any]
    parameters: dict[str, str]
    plan: Plan
    steps: dict[str, list[list[int]]]  # step name -> the frames of each of its tasks, as the runner will cut them


def _require_openjd() -> Any:
    try:
        import openjd.model as model  # the farm extra: only farm export needs it
    except ImportError:
        raise UsageError(f"Farm export needs the Open Job Description packages: {INSTALL_HINT}.") from None
    return model


def impasto_executable() -> str:
    """The `impasto` command of this installation (its absolute path), for the template's default."""
    beside = Path(sys.executable).with_name("impasto")
    if beside.is_file():
        return str(beside)
    found = shutil.which("impasto")
    if found is None:
        raise UsageError("The impasto command was not found beside this Python or on PATH; give the workers' with "
                         "--impasto /path/to/impasto.")
    return str(Path(found).resolve())


def _absolute_executable(executable: str | None) -> str:
    """The workers' impasto as an absolute path (a PATH parameter: a relative one would be joined to the folder
    the job is submitted from)."""
    if not executable:
        return impasto_executable()
    if os.path.isabs(executable):
        return executable
    found = shutil.which(executable)
    if found is None:
        raise UsageError(f"--impasto '{executable}' is not a command here; give the absolute path of impasto on the "
                         "workers, like /opt/impasto/bin/impasto.")
    return str(Path(found).resolve())


def _contiguous(frames: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in zip(frames, frames[1:]))


def _chunked(name: str, frames: Sequence[int], per_task: int, contiguous: bool) -> dict[str, Any]:
    """A CHUNK[INT] task parameter over `frames`, `per_task` frames a task."""
    return {"name": name, "type": "CHUNK[INT]", "range": format_frame_range(list(frames)),
            "chunks": {"defaultTaskCount": max(1, per_task),
                       "rangeConstraint": "CONTIGUOUS" if contiguous else "NONCONTIGUOUS"}}


def _step(name: str, description: str, parameter: dict[str, Any], depends: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "description": description,
        "parameterSpace": {"taskParameterDefinitions": [parameter]},
        "script": {
            "actions": {"onRun": {
                "command": "{{Param.Impasto}}",
                "args": ["render", "{{Param.ShotFile}}", "--frames", f"{{{{Task.Param.{parameter['name']}}}}}"],
                # The render stops like Ctrl-C on SIGTERM: the frame in flight leaves no file, finished ones stay.
                "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
            }},
        },
    }
    if depends:
        step["dependencies"] = [{"dependsOn": depends}]
    return step


def _learned_steps(plan: Plan, frames_per_task: int) -> list[dict[str, Any]]:
    """render.learned: the keyframes (one task each), then one task that learns the painter (the render of the
    first learned frame runs the plan's TRAIN task before it paints), then the other learned frames."""
    keys = [t.frame for t in plan.tasks if t.role == "keyframe" and t.frame is not None]
    rest = [t.frame for t in plan.tasks if t.role == "learned" and t.frame is not None]
    learns = any(t.key == TRAIN for t in plan.tasks)
    steps = []
    if keys:
        steps.append(_step("Keyframes", "Paint the keyframes by the optimisation, each on its own.",
                           _chunked("Frames", keys, 1, contiguous=False)))
    after = "Keyframes" if keys else None
    if learns and rest:
        steps.append(_step("Learn", "Learn the painter from the keyframes, then paint one frame with it.",
                           _chunked("Frames", rest[:1], 1, contiguous=False), depends=after))
        rest, after = rest[1:], "Learn"
    if rest:
        steps.append(_step("Learned", "Paint the other frames with the learned painter.",
                           _chunked("Frames", rest, frames_per_task, contiguous=False), depends=after))
    return steps


def _steps(plan: Plan, frames_per_task: int) -> list[dict[str, Any]]:
    """The job's steps from the planner's units."""
    if plan.learned is not None:
        return _learned_steps(plan, frames_per_task)
    if plan.boil is None:
        return [_step("Paint", "Paint the shot's frames, each on its own (boil 0).",
                      _chunked("Frames", plan.todo, frames_per_task, contiguous=True))]
    work = units(plan)
    keys = [u for u in work if u.chunk is None]
    chunks = [u for u in work if u.chunk is not None]
    steps = []
    if keys:
        frames = [n for u in keys for n in u.frames]
        chained = plan.boil.chained
        steps.append(_step(
            "Keyframes",
            "Paint the keyframes first: " + ("each from the one before, in one task." if chained else "each on its own."),
            _chunked("Frames", frames, len(frames) if chained else 1, contiguous=False)))
    if chunks:
        how = ("each held toward its two keyframes." if plan.boil is not None and plan.boil.two_sided else
               "in order, each from the one before, held to its keyframe and pulled toward the next.")
        steps.append(_step("Chunks", f"Paint each boil chunk's frames {how}", _chunk_parameter(chunks),
                           depends="Keyframes" if keys else None))
    return steps


def _chunk_parameter(chunks: list[Unit]) -> dict[str, Any]:
    """One task per boil chunk: CHUNK[INT] when every chunk is a run of consecutive frame numbers (they are then
    cut at the keyframes between them), else a STRING parameter listing each chunk's frames."""
    if all(_contiguous(u.frames) for u in chunks):
        return _chunked("Frames", [n for u in chunks for n in u.frames], max(len(u.frames) for u in chunks),
                        contiguous=True)
    return {"name": "Frames", "type": "STRING", "range": [format_frame_range(list(u.frames)) for u in chunks]}


def _parameters(shot: Shot, executable: str, precision: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    shot_file = Path(shot.source).resolve()
    values = {
        "ShotFile": str(shot_file),
        "ShotFolder": str(shot.root.resolve()),
        "OutputFolder": str(shot.output_folder().resolve()),
        "Impasto": executable,
        "ImpastoVersion": __version__,
        "AutoPrecision": precision,
    }
    # PATH parameters have no default (OpenJD takes only relative ones, inside the bundle): their values are in
    # the bundle's parameter files, and a farm maps them with its path mapping rules.
    definitions = [
        {"name": "ShotFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
         "description": "The shot file every task renders (impasto render SHOT --frames A-B). Map it with path "
                        "mapping rules where the workers mount the project elsewhere."},
        {"name": "ShotFolder", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
         "description": "The shot's folder (its plates, look and style images): every worker must reach it."},
        {"name": "OutputFolder", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT",
         "description": "Where the painted frames, the manifest and the frame locks go: shared by every worker."},
        {"name": "Impasto", "type": "PATH", "objectType": "FILE", "dataFlow": "NONE",
         "description": "The impasto command on the workers (the same version on every one)."},
        {"name": "ImpastoVersion", "type": "STRING", "default": __version__,
         "description": "The impasto version every worker must run: a task on another version stops in one sentence."},
        {"name": "AutoPrecision", "type": "STRING", "allowedValues": list(PRECISIONS), "default": precision,
         "description": "What the look's precision 'auto' means on every worker, so all frames render alike."},
    ]
    return definitions, values


def build_job(shot: Shot, plan: Plan, *, frames_per_task: int = 1, executable: str | None = None,
              precision: str = "fp32") -> FarmJob:
    """The OpenJD job for `plan` (of `shot`), checked with openjd-model; UsageError when there is nothing to do."""
    model = _require_openjd()
    if frames_per_task < 1:
        raise UsageError("--frames-per-task must be 1 or more frames.")
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not '{precision}'.")
    if not plan.todo:
        what = "all its frames are done" if not plan.missing else "its frames left have no plate frames"
        raise UsageError(f"Shot {shot.name} v{shot.output.version:03d} has nothing to render ({what}); "
                         "there is no job to export.")
    definitions, values = _parameters(shot, _absolute_executable(executable), precision)
    boil = f", boil {shot.temporal.boil:g}" if plan.boil is not None else ""
    template = {
        "specificationVersion": SPECIFICATION,
        "extensions": EXTENSIONS,
        "name": f"impasto {shot.name} v{shot.output.version:03d}{boil}",
        "description": f"Paint {len(plan.todo)} frames of shot {shot.name} ({format_frame_range(plan.todo)}) with "
                       f"impasto {__version__}. Every worker must reach the shot's folder and the output folder at "
                       "the paths the parameters give (map them with path mapping rules), and run the same impasto.",
        "parameterDefinitions": definitions,
        "jobEnvironments": [{
            "name": "impasto",
            "description": "What every worker agrees on: the impasto version and what 'auto' precision means.",
            "variables": {"IMPASTO_AUTO_PRECISION": "{{Param.AutoPrecision}}", VERSION_ENV: "{{Param.ImpastoVersion}}",
                          "PYTHONUNBUFFERED": "1"},
        }],
        "steps": _steps(plan, frames_per_task),
    }
    steps = check_template(model, template, values)
    _check_covers(plan, steps)
    return FarmJob(template, values, plan, steps)


def check_template(model: Any, template: dict[str, Any], values: dict[str, str]) -> dict[str, list[list[int]]]:
    """Decode `template` with openjd-model (its schema, format strings, extensions) and cut each step into tasks as
    a runner does; the frames of each task per step."""
    try:
        decoded = model.decode_job_template(template=template, supported_extensions=EXTENSIONS)
        params = model.preprocess_job_parameters(job_template=decoded, job_parameter_values=values,
                                                 job_template_dir=Path.cwd(), current_working_dir=Path.cwd())
        job = model.create_job(job_template=decoded, job_parameter_values=params)
    except (model.DecodeValidationError, ValueError) as exc:  # a bug here, not the user's: say what openjd said
        raise UsageError(f"The exported job does not pass Open Job Description's checks: {exc}".rstrip(".") + ".") from None
    out: dict[str, list[list[int]]] = {}
    for step in job.steps:
        tasks = []
        for task in model.StepParameterSpaceIterator(space=step.parameterSpace):
            value = task["Frames"].value
            tasks.append(parse_frame_range(value))
        out[step.name] = tasks
    return out


def _check_covers(plan: Plan, steps: dict[str, list[list[int]]]) -> None:
    """Every frame of the plan in exactly one task, and every boil chunk within one task."""
    painted = sorted(n for tasks in steps.values() for task in tasks for n in task)
    if painted != sorted(plan.todo):
        raise UsageError(f"The exported job's tasks paint {format_frame_range(painted)}, not the plan's frames "
                         f"{format_frame_range(plan.todo)}; please report this.")
    if plan.boil is not None:
        task_of = {n: i for i, task in enumerate(steps.get("Chunks", [])) for n in task}
        for u in units(plan):
            if u.chunk is not None and len({task_of[n] for n in u.frames}) != 1:
                raise UsageError(f"The exported job splits the boil chunk of keyframe {u.chunk} over several tasks; "
                                 "please report this.")


def parameter_values(values: dict[str, str]) -> dict[str, Any]:
    """The bundle's parameter_values.json (Deadline Cloud's format)."""
    return {"parameterValues": [{"name": k, "value": v} for k, v in values.items()]}


def write_bundle(job: FarmJob, folder: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the job bundle (template.json, parameter_values.json) into `folder`, whole or not at all: it is made
    beside under a temporary name and renamed. An existing folder is replaced only with `force`."""
    folder = Path(folder)
    if folder.exists() and not force:
        raise UsageError(f"'{folder}' already exists; pass --force to replace it, or choose another folder.")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"'{folder}' is a file, not a job bundle folder; choose another folder.")
    problem = output_folder_problem(folder.parent if str(folder.parent) else Path("."))
    if problem:
        raise UsageError(problem.replace("Output folder", "Folder"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        (tmp / TEMPLATE).write_text(json.dumps(job.template, indent=2) + "\n")
        (tmp / PARAMETER_VALUES).write_text(json.dumps(parameter_values(job.parameters), indent=2) + "\n")
        (tmp / RUN_PARAMETERS).write_text(json.dumps(job.parameters, indent=2) + "\n")
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
