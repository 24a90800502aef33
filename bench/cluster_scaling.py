"""Frames per hour of a shot rendered through Ray with 1 and 2 local workers, and the scaling ratio.

    python bench/cluster_scaling.py [--frames 12] [--size 96] [--iterations 8] [--repeats 2]

A synthetic plate (a moving gradient with a disc, PNG, `size` px wide) and a style image (a painting from
/work/shared/data/images when there is one, else skimage's coffee) are written to a temporary folder; one
local Ray (`num_cpus=2`) renders the shot with `workers=1` and `workers=2`, each into a fresh output folder,
alternating so that changes in the machine's load hit both alike. Reported per run: wall-clock frames per
hour (including starting the worker processes) and steady frames per hour (from the first frame's start to
the last frame's end); a render in this process without Ray is the baseline for Ray's own overhead. Each worker paints with one torch thread. The CPU is shared with other work here, so
the load average is printed alongside.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impasto.cluster import ClusterEvent, ClusterOptions, render_on_cluster
from impasto.io.images import read_image, write_image
from impasto.shot.config import load_shot

PAINTINGS = Path("/work/shared/data/images")


def _style(folder: Path) -> Path:
    from skimage.transform import resize

    candidates = sorted(p for p in PAINTINGS.glob("**/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}) if PAINTINGS.is_dir() else []
    if candidates:
        rgb = read_image(candidates[0])
    else:
        from skimage import data

        rgb = data.coffee().astype(np.float32) / 255.0
    h, w = rgb.shape[:2]
    s = 128 / max(h, w)
    return write_image(folder / "style.png", resize(rgb, (round(h * s), round(w * s)), anti_aliasing=True).astype(np.float32))


def _plates(folder: Path, frames: int, width: int) -> None:
    height = width * 2 // 3
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):
        t = i * 2.0
        rgb = np.stack([0.5 + 0.4 * np.sin((x + t) / 9.0), 0.45 + 0.35 * np.cos((y - t) / 7.0),
                        0.2 + 0.6 * (np.hypot(x - width / 3 - t, y - height / 2) < height / 4)], -1)
        write_image(folder / f"plate.{1001 + i}.png", rgb.astype(np.float32))


def _shot(folder: Path, frames: int, iterations: int, out: str) -> Path:
    import tomli_w

    data = {
        "name": "bench", "plate": "plates/plate.####.png", "frames": f"1001-{1000 + frames}", "styles": ["style.png"],
        "look": {"iterations": iterations, "seed": 3, "u": 4.0}, "render": {"device": "cpu"}, "output": {"folder": out},
    }
    path = folder / f"{out}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def run(folder: Path, workers: int, frames: int, iterations: int, tag: str) -> dict[str, float]:
    shot = load_shot(_shot(folder, frames, iterations, f"out_{tag}"))
    events: list[tuple[float, ClusterEvent]] = []
    t0 = time.perf_counter()
    report = render_on_cluster(shot, options=ClusterOptions(workers=workers, frames_per_task=1),
                               progress=lambda e: events.append((time.perf_counter(), e)))
    wall = time.perf_counter() - t0
    assert report.ok and len(report.rendered) == frames, report.failed
    starts = [t for t, e in events if e.kind == "start"]
    ends = [t for t, e in events if e.kind == "done"]
    steady = max(ends) - min(starts)
    return {"wall_fph": 3600 * frames / wall, "steady_fph": 3600 * frames / steady,
            "per_frame": statistics.median(report.seconds.values()), "workers_used": len(report.workers)}


def run_local(folder: Path, frames: int, iterations: int, tag: str) -> dict[str, float]:
    """The same shot painted in this process without Ray (one torch thread): the baseline for Ray's overhead."""
    import torch

    from impasto.shot.loop import render_frames

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        shot = load_shot(_shot(folder, frames, iterations, f"out_{tag}"))
        stamps: list[float] = []
        t0 = time.perf_counter()
        report = render_frames(shot, device="cpu", progress=lambda e: stamps.append(time.perf_counter()) if e.kind == "done" else None)
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)
    assert report.ok and len(report.rendered) == frames, report.failed
    steady = stamps[-1] - stamps[0]  # from the end of the first frame (which loads the network) to the last
    return {"wall_fph": 3600 * frames / wall, "steady_fph": 3600 * (frames - 1) / steady,
            "per_frame": statistics.median(report.seconds.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=96, help="plate width in pixels")
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import ray

    with tempfile.TemporaryDirectory(prefix="impasto-cluster-bench-") as tmp:
        folder = Path(tmp)
        os.environ.setdefault("IMPASTO_CACHE", str(folder / "cache"))
        (folder / "plates").mkdir()
        _plates(folder / "plates", args.frames, args.size)
        _style(folder)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            results: dict[int, list[dict[str, float]]] = {0: [], 1: [], 2: []}
            for r in range(args.repeats):
                load = os.getloadavg()[0]
                res = run_local(folder, args.frames, args.iterations, f"local{r}")
                results[0].append(res)
                print(f"run {r + 1}, no Ray (in process): {res['wall_fph']:.0f} frames/h wall, {res['steady_fph']:.0f} steady, "
                      f"{res['per_frame']:.2f} s/frame median, load average {load:.1f}", flush=True)
                for w in (1, 2):
                    load = os.getloadavg()[0]
                    res = run(folder, w, args.frames, args.iterations, f"{w}w{r}")
                    results[w].append(res)
                    print(f"run {r + 1}, {w} worker(s): {res['wall_fph']:.0f} frames/h wall, {res['steady_fph']:.0f} steady, "
                          f"{res['per_frame']:.2f} s/frame median, load average {load:.1f}", flush=True)
        finally:
            ray.shutdown()
    local = statistics.median(r["steady_fph"] for r in results[0])
    one = statistics.median(r["steady_fph"] for r in results[1])
    two = statistics.median(r["steady_fph"] for r in results[2])
    one_w = statistics.median(r["wall_fph"] for r in results[1])
    two_w = statistics.median(r["wall_fph"] for r in results[2])
    print(f"\n{args.frames} frames, {args.size} px wide, {args.iterations} iterations, on {os.cpu_count()} CPUs "
          f"(shared; load average now {os.getloadavg()[0]:.1f})")
    print(f"no Ray   : {local:.0f} frames/h steady (one process, one thread)")
    print(f"1 worker : {one:.0f} frames/h steady, {one_w:.0f} wall ({one / local:.2f} of no Ray)")
    print(f"2 workers: {two:.0f} frames/h steady, {two_w:.0f} wall")
    print(f"scaling ratio 2/1: {two / one:.2f} steady, {two_w / one_w:.2f} wall (ideal 2.0)")


if __name__ == "__main__":
    main()
