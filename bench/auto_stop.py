"""Where frames between keyframes may stop: the objective of every such frame of a real boil-1 render, traced over
the look's full count, and each candidate stopping rule replayed on those traces (issue 25, `[temporal]
iterations = "auto"`).

    python bench/auto_stop.py [--clip Megamind.avi] [--frames 24] [--edge 128] [--iterations 64] [--chunk 6]

The shot is made and painted as bench/temporal.py paints its two-sided boil 1 setting (frames held from both
keyframes, through the product path, in fp32), except that the rule in force never stops and keeps each frame's trace of
the objective (the loss over its starting value plus the temporal terms: what `impasto.optim.solve.Converged`
reads). Then for each rule (tolerance × window × minimum): the iterations it would have run, as a fraction of the
count, and how far the objective where it stops lies above the one the full count reached (mean and worst). The
chosen rule is the one that runs the fewest iterations with no frame's objective more than `--worst` above the
full count's. Writes bench/results/auto_stop_<tag>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from temporal import CLIPS, OUT, RESULTS, STYLE, lead_in  # noqa: E402

import impasto.shot.temporal as boil_module  # noqa: E402
from impasto.files import atomic_write_text  # noqa: E402
from impasto.io.sequence import movie_info  # noqa: E402
from impasto.look import Look  # noqa: E402
from impasto.optim.solve import STEADY, Converged  # noqa: E402
from impasto.shot.config import load_shot, save_shot  # noqa: E402
from impasto.shot.loop import render_frames  # noqa: E402
from impasto.shot.setup import init_shot  # noqa: E402

TOLERANCES = (0.002, 0.005, 0.01, 0.02, 0.05)
WINDOWS = (4, 8, 12)
MINIMUMS = (8, 12, 16, 24)


@dataclass(frozen=True)
class Recording(Converged):
    """A rule that never stops and keeps what every solve showed it: one trace per frame, in painting order."""

    traces: list[list[float]] = field(default_factory=list, compare=False)

    def __call__(self, values, done=None) -> bool:
        if done is not None and done == 1 or not self.traces:
            self.traces.append([])
        self.traces[-1][:] = list(values)
        return False


def replay(rule: Converged, trace: list[float]) -> int:
    """Iterations `rule` would have run on `trace` (the objective after each accepted iteration)."""
    for n in range(1, len(trace) + 1):
        if rule(trace[:n], n):
            return n
    return len(trace)


def judge(traces: list[list[float]], worst: float) -> list[dict]:
    rows = []
    for tol, window, minimum in itertools.product(TOLERANCES, WINDOWS, MINIMUMS):
        rule = Converged(tol, window, minimum)
        used, above = [], []
        for t in traces:
            n = replay(rule, t)
            used.append(n / len(t))
            above.append(t[n - 1] / t[-1] - 1.0)
        rows.append({"tolerance": tol, "window": window, "minimum": minimum,
                     "iterations_fraction": statistics.fmean(used), "objective_above_mean": statistics.fmean(above),
                     "objective_above_worst": max(above), "ok": max(above) <= worst})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default="Megamind.avi")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--edge", type=int, default=128)
    p.add_argument("--iterations", type=int, default=64)
    p.add_argument("--chunk", type=int, default=6)
    p.add_argument("--u", type=float, default=4.0)
    p.add_argument("--worst", type=float, default=0.02, help="no frame's objective more than this above the full count's")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    clip = CLIPS / a.clip
    if not clip.is_file():
        print(f"{clip} is missing; run 'make bench-setup' (it installs Debian's opencv-doc).", file=sys.stderr)
        return 1
    tag = f"{clip.stem.lower()}_f{a.frames}_e{a.edge}_i{a.iterations}_c{a.chunk}"
    work = OUT / f"auto_stop_{tag}"
    work.mkdir(parents=True, exist_ok=True)
    info = movie_info(str(clip))
    first = 1001 + lead_in(clip)
    path = work / "shot.toml"
    _, shot = init_shot(clip.stem.lower(), str(clip), f"{first}-{first + a.frames - 1}", shot_file=path,
                        styles=[str(STYLE)], overwrite=True,
                        settings={"render": {"scale": a.edge / max(info.width, info.height)},
                                  "output": {"folder": str(work / "render")}})
    shot = load_shot(path)
    # fp32: a bf16 solve that stalls goes on in fp32 with its own scale, which would cut a trace in two.
    shot.look = Look(u=a.u, iterations=a.iterations, precision="fp32")
    shot.temporal.boil, shot.temporal.chunk = 1.0, a.chunk
    shot.temporal.between, shot.temporal.iterations = "two-sided", "auto"
    save_shot(path, shot)
    shot = load_shot(path)
    recording = Recording(0.0, 1, 1)
    boil_module.STEADY = recording  # read when the renderer is made: every frame between keyframes keeps its trace
    t0 = time.perf_counter()
    report = render_frames(shot, force=True, progress=lambda ev: ev.kind == "done" and print(
        f"  frame {ev.frame} done in {ev.seconds:.1f} s [{ev.done}/{ev.total}]", flush=True))
    if report.failed:
        print(f"frames {sorted(report.failed)} failed: {next(iter(report.failed.values()))}", file=sys.stderr)
        return 1
    traces = [t for t in recording.traces if len(t) == a.iterations]
    rows = judge(traces, a.worst)
    ok = [r for r in rows if r["ok"]]
    best = min(ok, key=lambda r: (r["iterations_fraction"], r["objective_above_mean"])) if ok else None
    current = next(r for r in rows if (r["tolerance"], r["window"], r["minimum"]) ==
                   (STEADY.tolerance, STEADY.window, STEADY.minimum)) if STEADY.tolerance in TOLERANCES else None
    out = {"bench": "auto_stop", "issue": 25, "clip": str(clip), "frames": a.frames, "edge": a.edge,
           "iterations": a.iterations, "chunk": a.chunk, "u": a.u, "worst_allowed": a.worst, "cpu": describe(),
           "traced_frames": len(traces), "render_s": round(time.perf_counter() - t0, 1), "rules": rows,
           "best": best, "steady": {"tolerance": STEADY.tolerance, "window": STEADY.window, "minimum": STEADY.minimum,
                                    "replayed": current},
           "traces": [[round(v, 6) for v in t] for t in traces]}
    target = a.json or RESULTS / f"auto_stop_cpu_{tag}.json"
    atomic_write_text(target, json.dumps(out, indent=1) + "\n")
    print(f"\n{len(traces)} frames between keyframes traced over {a.iterations} iterations ({describe()})")
    print(f"{'tol':>7}{'window':>7}{'min':>5}{'its':>7}{'above mean':>12}{'worst':>9}")
    for r in sorted(rows, key=lambda r: r["iterations_fraction"]):
        if r["ok"]:
            print(f"{r['tolerance']:>7g}{r['window']:>7}{r['minimum']:>5}{r['iterations_fraction']:>7.2f}"
                  f"{100 * r['objective_above_mean']:>11.2f}%{100 * r['objective_above_worst']:>8.2f}%")
    if best:
        print(f"best within {100 * a.worst:g} %: tolerance {best['tolerance']:g}, window {best['window']}, minimum "
              f"{best['minimum']}: {100 * best['iterations_fraction']:.0f} % of the iterations")
    if current:
        print(f"in force (STEADY): {100 * current['iterations_fraction']:.0f} % of the iterations, objective "
              f"{100 * current['objective_above_mean']:.2f} % above on average, {100 * current['objective_above_worst']:.2f} % at worst")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
