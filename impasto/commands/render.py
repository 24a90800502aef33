"""`impasto render SHOT.toml`: paint every frame of a shot not yet done (resumable; a farm task with --frames)."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import Optional

import typer

from impasto.cluster import ClusterOptions, check_cluster, connect, render_on_cluster
from impasto.commands.common import app, command_errors, err
from impasto.commands.progress import Reporter
from impasto.commands.look_options import MAX_MEMORY_OPT, apply_memory_cap
from impasto.devices import resolve_device
from impasto.errors import ImpastoError, UsageError
from impasto.features.precision import explain_precision
from impasto.progress import duration
from impasto.fast.hooks import FastShotRenderer
from impasto.fast.keyframes import ShotTrainer
from impasto.shot.learned import painter_path
from impasto.io.sequence import format_frame_range, parse_frame_range
from impasto.shot.config import load_shot, with_overrides
from impasto.shot.render import ShotRenderer
from impasto.shot.loop import render_frames
from impasto.shot.estimate import estimate as estimate_shot


def _rel(path: object) -> str:
    """A path as the user would type it: relative to the working folder when it is below it."""
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


# --cluster's defaults are ClusterOptions': stated there, once.
CLUSTER = {f.name: f.default for f in dataclasses.fields(ClusterOptions)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a farm's SIGTERM: stop like Ctrl-C, so the frame in flight leaves no temporary file


@app.command()
def render(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml), from impasto shot init.", show_default=False),
    frames: Optional[str] = typer.Option(None, "--frames", help="Only these frames, e.g. 1001-1010 (a farm task). (default: the whole shot)"),
    force: bool = typer.Option(False, "--force", help="Re-render frames painted with an older look in place, in this version."),
    estimate: bool = typer.Option(False, "--estimate", help="Time a short probe and print the predicted time and frames per hour; render nothing."),
    from_previous: Optional[bool] = typer.Option(None, "--from-previous/--from-content", help="Start each frame from the previous painted frame (steadier) or from the plate. (default: the shot file's render.from_previous)"),
    boil: Optional[float] = typer.Option(None, "--boil", min=0.0, max=1.0, help="How much the strokes may re-arrange from frame to frame: 0 paints every frame on its own (they boil), 1 holds each frame to painted keyframes carried along the plate's motion, as steady as the motion allows. Above 0, the keyframe of every chunk of the shot file's temporal.chunk frames (and the shot's last frame) is painted first, each from the one before carried along the motion; then every frame between two keyframes is held toward both (temporal.between = two-sided), in parallel across renders and Ray workers, and stops once converged (temporal.iterations = auto). Another boil is another look (version-up). (default: the shot file's temporal.boil, 0 without one)"),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps. (default: the shot file's render.device)"),
    probe_iterations: int = typer.Option(4, help="Iterations timed by --estimate (the first two search a step size, the rest set the pace)."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Render on a Ray cluster: auto ($RAY_ADDRESS, a cluster started here with ray start --head, else a local Ray), local, or an address such as ray://head:10001. Needs pip install 'impasto[cluster]'."),
    gpus_per_frame: Optional[float] = typer.Option(CLUSTER["gpus_per_frame"], "--gpus-per-frame", help="With --cluster: GPUs per worker; 0 paints on CPUs. (default: 1 where the cluster has GPUs, else 0)"),
    cpus_per_frame: int = typer.Option(CLUSTER["cpus_per_frame"], "--cpus-per-frame", help="With --cluster: CPUs (torch threads) per worker."),
    frames_per_task: Optional[int] = typer.Option(None, "--frames-per-task", help=f"With --cluster: frames per Ray task; at boil above 0 the keyframes are one task (each its own with temporal.keyframes = independent) and each chunk of temporal.chunk frames another. (default: {CLUSTER['frames_per_task']})", show_default=False),
    chunk: Optional[int] = typer.Option(None, "--chunk", help="Deprecated: the old name of --frames-per-task. (The boil's chunk is the shot file's temporal.chunk.)", show_default=False),
    workers: Optional[int] = typer.Option(CLUSTER["workers"], "--workers", help="With --cluster: at most this many worker processes. (default: as many as the cluster holds)"),
    max_retries: int = typer.Option(CLUSTER["max_retries"], "--max-retries", help="With --cluster: restarts of a lost worker, and retries of its chunk."),
    learned: Optional[int] = typer.Option(None, "--learned", metavar="N", help="Paint frames 0, N, 2N… of the shot and its last frame by the optimisation, learn a painter from them (a few minutes on a CPU; resumable) and paint the other frames with it in about a second each; 0 turns it off. Its frames belong to the version by design: the look hash carries N, and the manifest records which frames were learned and from which painter; changed keyframes learn it again. Not with boil above 0, --fast, regions or --cluster. (default: the shot file's render.learned)"),
    fast: Optional[Path] = typer.Option(None, "--fast", help="Paint with this fast model (impasto fast train) instead of the optimisation: about a second per frame. Fast frames count as another look, so they never mix into a version of optimised frames."),
    max_memory: Optional[str] = MAX_MEMORY_OPT,
) -> None:
    """Paint the frames of a shot that are not done yet, into the version the shot file names.

    A frame whose plate frame is missing is recorded in the manifest and the others are painted; the run then \
exits 1 naming them. Renders of one shot started at once (two terminals, a farm) split its frames: each frame \
is locked while it is painted, and a lock left by a killed render is taken over."""
    with command_errors(paints=not cluster):  # a cluster's driver paints nothing here
        frames_per_task = _frames_per_task(frames_per_task, chunk)
        apply_memory_cap(max_memory)
        shot = with_overrides(load_shot(shot_file), from_previous=from_previous, boil=boil, learned=learned)
        wanted = parse_frame_range(frames) if frames else None
        if shot.render.learned and fast:
            raise UsageError("--fast and --learned are two ways to paint without the optimisation; give one.")
        if shot.render.learned and cluster:
            raise UsageError("--learned renders on this machine (or several local renders of the shot); drop --cluster.")
        if estimate:
            _estimate(shot, wanted, device, probe_iterations, force)
            return
        if cluster and fast:
            raise UsageError("--fast renders on this machine; drop --cluster (a fast model paints a frame in about a second).")
        if fast and shot.temporal.boil > 0:
            # Only said here: the frame pipeline is what paints a fast model's frames at boil 0 (FramePipeline).
            err.print(f"[yellow]warning:[/] the fast model ignores boil (temporal.boil {shot.temporal.boil:g}): it paints "
                      "every frame on its own, as at boil 0.", highlight=False, soft_wrap=True)
        if cluster:
            opts = ClusterOptions(address=cluster, frames_per_task=frames_per_task, gpus_per_frame=gpus_per_frame,
                                  cpus_per_frame=cpus_per_frame, workers=workers, max_retries=max_retries)
            _render_cluster(shot, wanted, force, opts)
            return
        _render(shot, wanted, device, force, fast, from_previous)


def _frames_per_task(frames_per_task: int | None, chunk: int | None) -> int:
    """--frames-per-task, or the deprecated --chunk it was called before (saying so in one line)."""
    if chunk is None:
        return CLUSTER["frames_per_task"] if frames_per_task is None else frames_per_task
    if frames_per_task is not None:
        raise UsageError("--chunk is the old name of --frames-per-task; give only --frames-per-task.")
    err.print("[yellow]warning:[/] --chunk is deprecated: use --frames-per-task for the frames per Ray task (the "
              "boil's chunk is the shot file's temporal.chunk).", highlight=False, soft_wrap=True)
    return chunk


def _estimate(shot, wanted, device, probe_iterations, force) -> None:
    err.print(f"{shot.name}: timing {probe_iterations} iterations on one frame ...", highlight=False, soft_wrap=True)
    est = estimate_shot(shot, wanted, device=device, probe_iterations=probe_iterations, force=force)
    pw, ph = est.paint_size
    w, h = est.plate_size
    left = f"{_count(est.frames, 'frame')} left" if est.frames else "no frames left"
    its = f"{est.iterations:.0f} iterations" + (f" (the median {_count(est.recorded, 'finished frame')} ran)"
                                                 if est.recorded else "")
    typer.echo(
        f"{shot.name} v{shot.output.version:03d}: painting {pw}×{ph} (plate {w}×{h}), {its} at "
        f"{est.per_iteration:.2f} s each on {est.device}: about {duration(est.per_frame)} per frame, "
        f"{est.frames_per_hour:.1f} frames per hour; {left}, about {duration(est.total)}."
    )
    if est.scale_overrides_size:
        err.print(f"note: the shot paints at render.scale {est.scale:g} of the plate ({max(est.paint_size)} px long edge), "
                  f"not at the look's size {est.look_size}; change render.scale in the shot file to paint larger or smaller.",
                  highlight=False, soft_wrap=True)
    if est.learns:
        err.print("note: the learned painter's learning comes on top (a few minutes on a CPU; [learn] minutes caps it); "
                  "the frames it paints take about a second each.", highlight=False, soft_wrap=True)
    if est.missing:
        err.print(f"note: {_count(est.missing, 'plate frame')} missing; render records them and exits 1 until they are there.",
                  highlight=False, soft_wrap=True)
    if est.device == "cpu" and est.cores_used < 0.75 * est.threads:
        err.print(f"note: the probe got {est.cores_used:.1f} of {est.threads} CPU threads' time (other work is running); "
                  "the estimate assumes the machine stays this busy.", highlight=False, soft_wrap=True)


def _render(shot, wanted, device, force, fast: Path | None = None, fast_from_previous: bool | None = None) -> None:
    # `shot` carries the command's overrides (with_overrides, once): nothing below applies them again.
    old = signal.signal(signal.SIGTERM, _interrupt)
    label = f"{shot.name} v{shot.output.version:03d}"
    report = None
    said: set[str] = set()
    try:
        if fast is not None:
            # a fast model starts from the plate unless --from-previous asks otherwise (it has no start of its own)
            chosen = FastShotRenderer(shot, fast, device=device, from_previous=fast_from_previous)
        elif shot.render.learned:
            chosen = ShotRenderer(shot, device=device, trainer=ShotTrainer(shot, device=device))
        else:
            chosen = ShotRenderer(shot, device=device)
        with chosen as renderer:
            plan = renderer.plan(wanted, force=force)
            if not plan.todo and not plan.missing:
                err.print(f"{label}: all {len(plan.frames)} frames are done ({_rel(shot.output_pattern())}).", highlight=False, soft_wrap=True)
                return
            shot.make_output_folder()
            if plan.missing:
                rest = "; painting the others" if plan.todo else ""
                err.print(f"{label}: {_missing_sentence(shot, plan.missing, len(plan.frames))}{rest}.",
                          highlight=False, soft_wrap=True)
            why = {}
            for n, r in plan.reasons.items():
                why.setdefault(r, []).append(n)
            reasons = "; ".join(f"{r}: {format_frame_range(ns)}" for r, ns in why.items())
            if plan.todo:
                err.print(f"{label}: rendering {len(plan.todo)} of {len(plan.frames)} frames ({reasons}){_boil_note(renderer.shot)} -> "
                          f"{_rel(shot.output_pattern())}", highlight=False, soft_wrap=True)
            _warn(renderer, said)
            if plan.todo and not renderer.painter.look_tag:  # the optimisation (a fast model says its own)
                why = explain_precision(renderer.look.precision, resolve_device(renderer.device))
                err.print(f"{label}: precision {why}", highlight=False, soft_wrap=True)
            with Reporter(label, totals={"frame": len(plan.todo)}) as progress:
                report = render_frames(renderer.shot, plan=plan, renderer=renderer, progress=progress)
            if report.learned:
                err.print(f"{label}: learned painter {report.learned} ({_rel(painter_path(shot, report.learned))})",
                          highlight=False, soft_wrap=True)
            _warn(renderer, said)  # region warnings of frames painted during the run
    except KeyboardInterrupt:
        err.print(f"{label}: interrupted; finished frames are kept, run impasto render {shot.source} again to resume.",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    finally:
        signal.signal(signal.SIGTERM, old)
    if report is None:
        return
    done = len(report.rendered)
    times = [report.seconds[n] for n in report.rendered]
    mean = sum(times) / len(times) if times else 0.0
    others = f", {len(report.elsewhere)} left to another render" if report.elsewhere else ""
    gone = f", {len(report.missing)} plate frames missing" if report.missing else ""
    err.print(f"{label}: rendered {_count(done, 'frame')} ({duration(mean)} per frame), {len(report.skipped)} already done"
              f"{others}, {len(report.failed)} failed{gone} -> {_rel(shot.output_pattern())}", highlight=False, soft_wrap=True)
    _raise_unfinished(shot, report, len(plan.frames))


def _boil_note(shot) -> str:
    t = shot.temporal
    if shot.render.learned:
        return (f" with a learned painter: keyframes every {shot.render.learned} frames and the last by the "
                "optimisation, then the painter learns from them and paints the rest")
    if t.boil <= 0:
        return ""
    return f" at boil {t.boil:g}: keyframes first, then chunks of {t.chunk}"


def _warn(renderer: object, said: set[str]) -> None:
    """The renderer's warnings (regions' small or overlapping mattes, a painter that ignores them), each once."""
    for text in getattr(renderer, "warnings", []):
        if text not in said:
            said.add(text)
            err.print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _missing_sentence(shot, missing: list[int], of: int) -> str:
    where = shot.plate if shot.plate_is_movie else _rel(shot.plate_pattern())
    verb = "is" if len(missing) == 1 else "are"
    return f"plate {'frame' if len(missing) == 1 else 'frames'} {format_frame_range(missing)} {verb} missing from '{where}' ({len(missing)} of {of})"


def _raise_unfinished(shot, report, of: int) -> None:
    """Exit non-zero when frames failed or their plate frames are missing: one sentence for both."""
    parts = []
    if report.failed:
        listed = ", ".join(f"{n} ({msg})" for n, msg in sorted(report.failed.items())[:5])
        more = f" and {len(report.failed) - 5} more" if len(report.failed) > 5 else ""
        parts.append(f"{_count(len(report.failed), 'frame')} failed: {listed}{more}")
    if report.missing:
        s = _missing_sentence(shot, report.missing, of)
        parts.append(s[0].upper() + s[1:] + " and were not painted" if len(report.missing) > 1 else
                     s[0].upper() + s[1:] + " and was not painted")
    if report.learn_error:
        parts.append(f"the learned painter could not be learned ({report.learn_error.rstrip('.')}), so "
                     f"{_count(len(report.elsewhere), 'frame')} were not painted")
    if parts:
        fix = "fix the cause and run impasto render again to paint " + ("them" if len(report.failed) + len(report.missing) > 1 else "it")
        raise ImpastoError("; ".join(parts) + f"; {fix}.")


# ------------------------------------------------------------------------------------------- --cluster


def _render_cluster(shot, wanted, force, opts) -> None:
    check_cluster(shot, opts)  # before planning or connecting: Ray installed, options that make sense
    old = signal.signal(signal.SIGTERM, _interrupt)
    label = f"{shot.name} v{shot.output.version:03d}"
    try:
        with ShotRenderer(shot, device="cpu") as renderer:
            plan = renderer.plan(wanted, force=force)
        if not plan.todo and not plan.missing:
            err.print(f"{label}: all {len(plan.frames)} frames are done ({_rel(shot.output_pattern())}).", highlight=False, soft_wrap=True)
            return
        why: dict[str, list[int]] = {}
        for n, r in plan.reasons.items():
            why.setdefault(r, []).append(n)
        reasons = "; ".join(f"{r}: {format_frame_range(ns)}" for r, ns in why.items())
        with connect(opts.address):  # before saying anything: an unreachable cluster is one sentence
            err.print(f"{label}: rendering {len(plan.todo)} of {len(plan.frames)} frames on Ray ({reasons}){_boil_note(shot)} -> "
                      f"{_rel(shot.output_pattern())}", highlight=False, soft_wrap=True)
            with Reporter(label, totals={"frame": len(plan.todo)}) as progress:
                report = render_on_cluster(shot, wanted, options=opts, force=force, progress=progress, plan=plan)
    except KeyboardInterrupt:
        err.print(f"{label}: interrupted; outstanding Ray tasks were cancelled and finished frames are kept, run "
                  f"impasto render {shot.source} --cluster {opts.address} again to resume.", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    finally:
        signal.signal(signal.SIGTERM, old)
    if plan.missing:
        err.print(f"{label}: {_missing_sentence(shot, plan.missing, len(plan.frames))}.", highlight=False, soft_wrap=True)
    rate = report.frames_per_hour
    extra = f", {report.restarts} workers restarted" if report.restarts else ""
    n = len(report.workers)
    err.print(f"{label}: rendered {len(report.rendered)} frames on {n} worker{'s' if n != 1 else ''}"
              f"{f' ({rate:.0f} frames/h overall)' if rate else ''}, {len(report.skipped)} already done, {len(report.failed)} failed"
              f"{extra} -> {_rel(shot.output_pattern())}", highlight=False, soft_wrap=True)
    _raise_unfinished(shot, report, len(plan.frames))
