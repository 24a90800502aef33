"""Benchmark for shots painted from keyframes (issue 26): `impasto render --learned N` on Megamind.avi against
painting every frame by the optimisation.

    python bench/learned.py                                   # 24 frames, 256 px, 128 iterations, u 4, --learned 8
    python bench/learned.py --frames 12 --edge 128 --iterations 32 --every 4 --score 2   # a quick look

It renders the shot with --learned in this process and reports: the total time (keyframes, learning and the
learned frames; the baseline is the keyframes' median time per frame × every frame of the shot, which is what
painting each frame by the optimisation costs); on `--score` learned frames, the painter's loss over the
optimisation's of the same frame (the look's own loss, fp32), and the same after `--refine` iterations of the
optimisation from the painter's picture ([learn] refine), with their time; E_warp of the render and of the plate
(excess, as bench/temporal.py) and a contact strip of consecutive frames. JSON under bench/results/.

Needs Debian's opencv-doc (`make bench-setup`) and ../shared/data/images/starry_night.jpg. Times on a shared CPU
vary with the load: the machine and load averages are in the JSON; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from temporal import CLIPS, FIRST, STYLE, code_state, lead_in, machine, save  # noqa: E402

from impasto.api import render  # noqa: E402
from impasto.fast.core import load_model  # noqa: E402
from impasto.fast.keyframes import ShotTrainer  # noqa: E402
from impasto.fast.loss import GatysLoss, score, style_distance  # noqa: E402
from impasto.io.images import write_image  # noqa: E402
from impasto.io.sequence import movie_info  # noqa: E402
from impasto.io.tensors import load_rgb  # noqa: E402
from impasto.look import Look  # noqa: E402
from impasto.shot.config import load_shot, save_shot  # noqa: E402
from impasto.shot.learned import painter_path  # noqa: E402
from impasto.shot.loop import render_frames  # noqa: E402
from impasto.shot.manifest import read_manifest  # noqa: E402
from impasto.shot.render import ShotRenderer  # noqa: E402
from impasto.shot.setup import init_shot  # noqa: E402
from impasto.shot.status import ewarp_for_range  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="Megamind.avi")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--edge", type=int, default=256, help="paint long edge, px")
    ap.add_argument("--iterations", type=int, default=128)
    ap.add_argument("--u", type=float, default=4.0)
    ap.add_argument("--every", type=int, default=8, help="--learned N")
    ap.add_argument("--score", type=int, default=3, help="learned frames to optimise and compare with")
    ap.add_argument("--refine", default="16,32", help="iterations of the optimisation from the painter's picture to score")
    ap.add_argument("--steps", type=int, default=None, help="[learn] steps (default: LearnSettings')")
    ap.add_argument("--work", default="/tmp/impasto-bench-learned")
    ap.add_argument("--out", default=None, help="JSON to write (default: bench/results/learned_cpu_<clip>_f.._e.._i.._n...json)")
    return ap.parse_args(argv)


def make_shot(a: argparse.Namespace, work: Path) -> Path:
    clip = CLIPS / a.clip
    info = movie_info(str(clip))
    first = FIRST + lead_in(clip)
    name = clip.stem.lower()
    learn = {"steps": a.steps} if a.steps else {}
    path, _ = init_shot(name, str(clip), f"{first}-{first + a.frames - 1}", shot_file=work / f"{name}.toml",
                        styles=[str(STYLE)], overwrite=True,
                        settings={"render": {"scale": a.edge / max(info.width, info.height), "learned": a.every},
                                  "output": {"folder": str(work / "render")}, "learn": learn})
    shot = load_shot(work / f"{name}.toml")
    shot.look = Look(u=a.u, iterations=a.iterations)
    return save_shot(work / f"{name}.toml", shot)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    t0 = time.perf_counter()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict = {"bench": "learned", "args": vars(a), "machine": machine(), "code": code_state()}
    shot = load_shot(make_shot(a, work))
    start = time.perf_counter()
    report = render_frames(shot, trainer=ShotTrainer(shot, device="cpu"), device="cpu")
    total = time.perf_counter() - start
    if not report.ok:
        print(f"render failed: {report.failed or report.learn_error}", file=sys.stderr)
        return 1
    m = read_manifest(shot.manifest_path()).frames
    frames = shot.frame_list()
    keys = [n for n in frames if not m[n].learned]
    learned = [n for n in frames if m[n].learned]
    key_s = statistics.median(m[n].seconds for n in keys)
    model = load_model(painter_path(shot, report.learned))
    results["time"] = {
        "total_s": round(total, 1), "keyframes": keys, "keyframe_s_median": key_s,
        "learning_s": model.record.get("seconds"), "learning_steps": model.record.get("steps"),
        "learned_frame_s_median": statistics.median(m[n].seconds for n in learned),
        "baseline_every_frame_optimised_s": round(key_s * len(frames), 1),
        "ratio_to_baseline": round(total / (key_s * len(frames)), 3),
    }
    print(json.dumps(results["time"], indent=1), flush=True)
    results["quality"] = quality(shot, learned, model, a)
    got = ewarp_for_range(shot, shot.output.version, frames)
    results["ewarp"] = {k: got.get(k) for k in ("painted", "plate", "excess", "pairs")}
    print("ewarp", json.dumps(results["ewarp"]), flush=True)
    results["strip"] = strip(shot, frames[:8], work)
    out = Path(a.out) if a.out else RESULTS / (f"learned_cpu_{Path(a.clip).stem.lower()}_f{a.frames}_e{a.edge}_i{a.iterations}"
                                               f"_n{a.every}.json")
    save(results, out, t0)
    print(f"wrote {out}", flush=True)
    return 0


def quality(shot, learned: list[int], model, a: argparse.Namespace) -> dict:
    """On `a.score` learned frames spread over the shot: the painter's loss over the optimisation's (from the plate,
    the look's iterations), the Gram style distance between the two pictures, and the same after a few iterations
    of the optimisation from the painter's picture."""
    picks = [learned[round(i * (len(learned) - 1) / max(1, a.score - 1))] for i in range(a.score)] if a.score else []
    look, style_paths = shot.resolved_look()
    styles = [load_rgb(p, "style image") for p in style_paths]
    refine = [int(x) for x in a.refine.split(",") if x]
    rows = []
    with ShotRenderer(shot, device="cpu") as r:
        for n in picks:
            plate = r.read_plate(n)
            size = r.paint_size(plate.width, plate.height)
            shown = np.clip(r.to_display(r.straight(plate)), 0.0, 1.0)
            from impasto.motion.flow import fit

            content = fit(shown, size)
            painted = r.painted(n, size)
            edge = max(size)
            loss = GatysLoss(look, styles, edge, torch.device("cpu"))
            t = time.perf_counter()
            opt = render(content, styles, look.model_copy(update={"size": edge}), device="cpu")
            opt_s = time.perf_counter() - t
            ref = score(loss, opt.image, content, look.u)["total"]
            row = {"frame": n, "optimised_s": round(opt_s, 1),
                   "learned_over_optimised": score(loss, painted, content, look.u)["total"] / ref,
                   "style_distance_learned_optimised": style_distance(loss, painted, opt.image), "refined": {}}
            for k in refine:
                t = time.perf_counter()
                done = render(content, styles, look.model_copy(update={"size": edge, "iterations": k}), device="cpu",
                              init=painted)
                row["refined"][k] = {"over_optimised": score(loss, done.image, content, look.u)["total"] / ref,
                                     "seconds": round(time.perf_counter() - t, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"frames": rows,
            "learned_over_optimised_median": statistics.median(r["learned_over_optimised"] for r in rows) if rows else None}


def strip(shot, frames: list[int], work: Path) -> str:
    """Consecutive frames side by side (keyframes and learned ones), as painted."""
    with ShotRenderer(shot, device="cpu") as r:
        pictures = []
        for n in frames:
            plate = r.read_plate(n)
            pictures.append(r.painted(n, r.paint_size(plate.width, plate.height)))
    path = work / "strip.png"
    write_image(path, np.concatenate(pictures, axis=1))
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
