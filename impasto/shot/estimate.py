"""How long a shot will take: a short probe on its first frame to render, extrapolated (`impasto render --estimate`).

Iterations per frame: the median its finished frames of this look recorded (keyframes and the frames between
them apart, at boil > 0, where `[temporal] iterations = "auto"` stops the latter early), the look's count where
none is recorded yet. With render.learned, the frames its painter paints take none (the painter's learning is
not in the estimate: `Estimate.learns` says it comes on top)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from impasto.errors import UsageError
from impasto.io.frames import Frame, write_frame
from impasto.io.sequence import format_frame_range
from impasto.io.tensors import fit_size
from impasto.shot.config import Shot
from impasto.shot.render import ShotRenderer


@dataclass
class Estimate:
    frames: int  # frames the estimate covers (those not done yet)
    paint_size: tuple[int, int]  # width, height painted
    plate_size: tuple[int, int]
    iterations: float  # per frame to paint, on average (recorded medians where there are some, else the look's)
    per_iteration: float
    per_frame: float
    device: str
    probe_iterations: int
    cores_used: float = 0.0  # CPU seconds per second during the probe: well below `threads` on a busy machine
    threads: int = 1
    look_size: int = 0  # the look's long edge, which a shot does not use: render.scale of the plate sets it
    scale: float = 1.0
    missing: int = 0  # frames whose plate frame is missing
    recorded: int = 0  # finished frames whose recorded iterations the estimate used (0: the look's count)
    learns: bool = False  # render.learned: a painter is to be learned on top of the frames' time

    @property
    def scale_overrides_size(self) -> bool:
        return max(self.paint_size) != self.look_size

    @property
    def frames_per_hour(self) -> float:
        return 3600.0 / self.per_frame if self.per_frame > 0 else float("inf")

    @property
    def total(self) -> float:
        return self.per_frame * self.frames


def estimate(shot: Shot, frames: list[int] | None = None, *, device: str | None = None, probe_iterations: int = 4,
             force: bool = False) -> Estimate:
    """Time a short probe on the first frame to be rendered (a few iterations, nothing written) and extrapolate."""
    probe_iterations = max(2, probe_iterations)
    with ShotRenderer(shot, device=device) as r:
        plan = r.plan(frames, force=force)
        there = plan.todo or [n for n in plan.frames if n not in set(plan.missing)]
        if not there:
            raise UsageError(f"No plate frame of {format_frame_range(plan.frames)} is there to time; check the shot's plate '{shot.plate}'.")
        frame = there[0]
        t0 = time.perf_counter()
        plate = r.read_plate(frame)
        read_s = time.perf_counter() - t0
        # Warm up: network and style targets load once per process, not per frame.
        r.paint(frame, plate, iterations=1)
        stamps: list[float] = []
        c1 = time.process_time()
        t1 = time.perf_counter()
        out, _, result = r.paint(frame, plate, iterations=probe_iterations,
                                 on_iteration=lambda i, n: stamps.append(time.perf_counter()))
        total = time.perf_counter() - t1
        cores = (time.process_time() - c1) / total if total > 0 else 0.0
        steps = np.diff([t1, *stamps])
        # L-BFGS's first steps search for a step size (many evaluations); later ones mostly take one. Those
        # first steps happen on every frame, so they stay in the per-frame overhead below.
        per_iter = float(np.median(steps[2:])) if len(steps) >= 3 else float(steps[-1])
        overhead = max(0.0, total - per_iter * probe_iterations)  # content targets, post, colour
        t2 = time.perf_counter()
        tmp = r.scratch() / f"probe{shot.output_pattern().extension}"
        write_frame(tmp, Frame(rgb=out, alpha=plate.alpha, spec=plate.spec), like=plate.spec)
        write_s = time.perf_counter() - t2
        h, w = plate.rgb.shape[:2]
        ph, pw = fit_size(h, w, r.paint_edge(w, h))
        iterations, recorded = planned_iterations(r, plan)
        per_frame = read_s + overhead + write_s + per_iter * iterations
        return Estimate(frames=len(plan.todo), paint_size=(pw, ph), plate_size=(w, h), iterations=iterations,
                        per_iteration=per_iter, per_frame=per_frame, device=result.device, probe_iterations=probe_iterations,
                        cores_used=cores, threads=torch.get_num_threads(), look_size=r.look.size,
                        scale=shot.render.scale, missing=len(plan.missing), recorded=recorded,
                        learns=any(t.role == "other" for t in plan.tasks))


def planned_iterations(r: ShotRenderer, plan) -> tuple[float, int]:
    """(mean iterations per frame to paint, finished frames recorded that it rests on): each frame to paint takes
    the recorded median of its kind (keyframe, or between keyframes), else the look's count."""
    done = [e for e in r.manifest().done().values() if e.look_hash == r.look_hash and e.iterations is not None]
    medians = {}
    for kind in (True, False):
        its = [e.iterations for e in done if e.keyframe == kind]
        medians[kind] = statistics.median(its) if its else r.look.iterations
    keys = {t.key for t in plan.tasks if t.role == "keyframe"}
    learned = {t.key for t in plan.tasks if t.role == "learned"}  # painted by the learned painter: no iterations
    todo = plan.todo or [None]
    mean = sum(0 if n in learned else medians[n in keys] if n is not None else r.look.iterations for n in todo) / len(todo)
    return float(mean), len(done)
