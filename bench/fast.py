"""Benchmark for Instant u (issue 9): train a fast model on a real pair for a few minutes on the CPU, then time a
9-value u sweep at 512 px and compare its loss at u 3, 4, 5 with 256-iteration optimisation.

    python bench/fast.py --minutes 12 --size 256 --crop 128 --out /tmp/impasto-fast-bench

Needs /work/shared/data/images (tubingen.jpg, starry_night.jpg). Writes the model, a sweep sheet, a compare sheet
and results.json into --out. Timings on a shared CPU vary with the load: the load average and the process CPU
time are reported beside the wall time (on 2 idle cores, wall ≈ CPU time / 2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

from impasto.io.tensors import load_rgb
from impasto.fast import TrainSettings, train
from impasto.fast.compare import compare, write_compare_sheet, write_sweep_sheet
from impasto.look import Look

IMAGES = Path("/work/shared/data/images")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def sweep(model, content, us, out: Path, results: dict) -> None:
    """Time a sweep of `us` at 512 px (best of 3 after a warm-up) and write its sheet."""
    model.paint(content, us, size=512, device="cpu")  # warm-up
    runs = []
    for _ in range(3):
        load = os.getloadavg()[0]
        c0, t0 = cpu_seconds(), time.perf_counter()
        images = model.paint(content, us, size=512, device="cpu")
        runs.append({"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0, "load1": load})
    best = min(runs, key=lambda r: r["wall"])
    results["sweep_512"] = {"runs": runs, "best_wall": best["wall"], "cpu_seconds": best["cpu"],
                            "idle_2core_estimate": best["cpu"] / 2, "size": list(images[0].shape[:2])}
    write_sweep_sheet(images, us, out / "sweep_512.png", "bench: 9 u values at 512 px")
    print(json.dumps(results["sweep_512"], indent=1), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", default=str(IMAGES / "tubingen.jpg"))
    ap.add_argument("--style", default=str(IMAGES / "starry_night.jpg"))
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--size", type=int, default=256, help="paint size the model is trained for and compared at")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--iterations", type=int, default=256)
    ap.add_argument("--out", default="/tmp/impasto-fast-bench")
    ap.add_argument("--skip-train", action="store_true", help="reuse the model in --out")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--compare-u", type=lambda t: [float(v) for v in t.split(",")], default=[4.0, 3.0, 5.0])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content, style = load_rgb(args.content, "content"), load_rgb(args.style, "style")
    look = Look(size=args.size)
    results: dict = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "args": vars(args)}

    from impasto.fast.core import load_model

    model_path = out / "bench_fast.pt"
    if not args.skip_train:
        settings = TrainSettings(u_range=(2.0, 6.0), steps=100_000, batch=args.batch, crop=args.crop, preset=args.preset,
                                 device="cpu", checkpoint_every=100, time_limit=60 * args.minutes)

        def show(p) -> None:
            if p.step % 20 == 0 or p.step == 1:
                b = " ".join(f"{k} {v:.3f}" for k, v in p.buckets.items())
                print(f"step {p.step} {p.elapsed:.0f}s loss {p.loss:.3f} [{b}]", flush=True)

        res = train(look, [style], [content], model_path, settings, style_paths=[args.style],
                    resume=False, progress=show)
        results["train"] = {"steps": res.steps, "seconds": res.seconds, "first": res.first, "last": res.last,
                            "load_average": os.getloadavg()}
        print(json.dumps(results["train"], indent=1), flush=True)
    model = load_model(model_path)

    # The sweep: 9 u values at 512 px, the frame encoded once.
    us = [2.0 + 0.5 * i for i in range(9)]
    if args.skip_sweep:
        us = []
    if us:
        sweep(model, content, us, out, results)


    # Fast vs optimisation at u 3, 4, 5 on the trained frame, at the trained size.
    def note(e) -> None:
        if e.kind == "start":
            print(f"compare {e.done + 1}/{e.total} {e.name} ({args.iterations} iterations at {args.size} px)", flush=True)

    # One u at a time, written as it finishes: on a shared CPU each 256-iteration render can take many minutes.
    results["compare"] = []
    rows = []
    for u in args.compare_u:
        report = compare(model, [("tubingen", content)], [u], [style], size=args.size,
                         iterations=args.iterations, device="cpu", progress=note)
        rows += report.rows
        r = report.rows[0]
        row = {"u": r.u, "fast": r.fast, "optimised": r.optimised, "relative_total": r.relative("total"),
               "relative_style": r.relative("style"), "relative_content": r.relative("content"),
               "fast_seconds": r.fast_seconds, "optimised_seconds": r.optimised_seconds}
        results["compare"].append(row)
        print(f"u {row['u']:g}: total fast/opt {row['relative_total']:.2f} (style {row['relative_style']:.2f}, "
              f"content {row['relative_content']:.2f}); fast {row['fast_seconds'] * 1000:.0f} ms, "
              f"opt {row['optimised_seconds']:.0f} s", flush=True)
        write_compare_sheet(report, out / f"compare_u{u:g}.png")
        (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
