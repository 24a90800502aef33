"""Benchmark for the look-development painter (issue 26): sweep one Megamind frame over u, learn a painter without
two of the cells, and judge it on them, on the swept frame and on another frame of the shot.

    python bench/lookdev_painter.py                       # u 2:6:1, 256 px, 128 iterations, leaving out u 3 and 5
    python bench/lookdev_painter.py --edge 128 --iterations 32 --steps 200   # a quick look

Steps: `impasto sweep` of frame --frame at u 2:6:1; `impasto fast learn` leaving out --leave-out; then
`impasto.fast.compare.compare` at the left-out u on that frame and on --other (the painter's loss over the
optimisation's, fp32, and the Gram style distance between their pictures); and the reference the target asks for:
the style distance between the optimisation's pictures at u and u + 0.25. Also times a 9-value sweep of the painter
at 512 px. JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from temporal import CLIPS, STYLE, code_state, machine, save  # noqa: E402

from impasto.api import render  # noqa: E402
from impasto.fast.compare import compare  # noqa: E402
from impasto.fast.core import load_model  # noqa: E402
from impasto.fast.loss import GatysLoss, style_distance  # noqa: E402
from impasto.io.sequence import read_movie_frame  # noqa: E402
from impasto.io.tensors import fit_size, load_rgb, resize, to_array, to_tensor  # noqa: E402
from impasto.look import load_look  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def run(*args: str) -> None:
    print("$ impasto " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "impasto", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", type=int, default=1010, help="the swept frame of Megamind.avi (numbered from 1001)")
    ap.add_argument("--other", type=int, default=1018, help="another frame of the shot to judge on")
    ap.add_argument("--u", default="2:6:1")
    ap.add_argument("--leave-out", default="3,5")
    ap.add_argument("--edge", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="learning steps (default: LearnSettings')")
    ap.add_argument("--work", default="/tmp/impasto-bench-lookdev")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict = {"bench": "lookdev_painter", "args": vars(a), "machine": machine(), "code": code_state()}
    clip = CLIPS / "Megamind.avi"
    content = f"{clip}@{a.frame}"
    t = time.perf_counter()
    run("sweep", content, str(STYLE), "--u", a.u, "--iterations", str(a.iterations), "--size", str(a.edge),
        "--seed", "0", "--device", "cpu", "-o", str(work / "sw"))
    results["sweep_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    run("fast", "learn", str(work / "sw"), "-o", str(work / "painter.pt"), "--leave-out", a.leave_out, "--device", "cpu",
        *(["--steps", str(a.steps)] if a.steps else []))
    results["learn_s"] = round(time.perf_counter() - t, 1)
    model = load_model(work / "painter.pt")
    look_file = load_look(next((work / "sw" / "cells").glob("*.look.toml")))
    styles = [load_rgb(s, "style image") for s in look_file.styles]
    us = [float(u) for u in a.leave_out.split(",")]
    frames = []
    for n in (a.frame, a.other):
        rgb = read_movie_frame(clip, n)
        frames.append((f"Megamind.avi@{n}", rgb))
    report = compare(model, frames, us, styles, size=a.edge, iterations=a.iterations, device="cpu")
    rows = []
    for (fi, u), (fast, opt) in report.images.items():
        row = next(r for r in report.rows if r.frame == frames[fi][0] and r.u == u)
        content_small = to_array(resize(to_tensor(frames[fi][1], torch.device("cpu")), fit_size(*frames[fi][1].shape[:2], a.edge)))
        loss = GatysLoss(model.look, styles, a.edge, torch.device("cpu"), match_to=content_small)
        nearby = render(content_small, styles, model.look.model_copy(update={"u": u + 0.25, "size": a.edge,
                                                                               "iterations": a.iterations, "seed": 0}),
                        device="cpu").image
        rows.append({"frame": row.frame, "u": u, "seen": row.seen, "painter_over_optimised": row.relative("total"),
                     "style_over_optimised": row.relative("style"), "content_over_optimised": row.relative("content"),
                     "style_distance_painter_optimised": row.style_distance,
                     "style_distance_optimised_u_and_u_plus_0.25": style_distance(loss, opt, nearby),
                     "painter_ms": round(row.fast_seconds * 1000, 1), "optimised_s": round(row.optimised_seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)
    results["judged"] = rows
    big = to_array(resize(to_tensor(frames[0][1], torch.device("cpu")), fit_size(*frames[0][1].shape[:2], 512)))
    nine = [2.0 + 0.5 * i for i in range(9)]
    model.paint(big, nine, size=512, device="cpu")  # warm-up
    t = time.perf_counter()
    model.paint(big, nine, size=512, device="cpu")
    results["nine_u_at_512_s"] = round(time.perf_counter() - t, 3)
    print("9 u at 512 px:", results["nine_u_at_512_s"], "s", flush=True)
    out = Path(a.out) if a.out else RESULTS / f"lookdev_painter_cpu_megamind_e{a.edge}_i{a.iterations}.json"
    save(results, out, t0)
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
