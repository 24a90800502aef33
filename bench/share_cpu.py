"""Two renders of one shot on one machine: do they share the CPU? The shot's frames painted by one `impasto render`
alone (all cores), then by two at once (each its share, impasto.threads), then by two at once with every render
forced to a thread per core (what torch does by default: the threads wait on each other).

    python bench/share_cpu.py [--frames 12] [--size 160] [--iterations 24] [--json PATH]

Target: two at once finish the shot in at most 1.1x the time one render takes alone. The plates are the shared
Tübingen photo panning 3 px a frame. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

IMAGES = Path("/work/shared/data/images")


def _shot(folder: Path, frames: int, size: int, iterations: int) -> Path:
    import tomli_w

    from impasto.io.images import write_image
    from impasto.io.tensors import load_rgb

    import torch

    from impasto.io.tensors import fit_size, resize, to_array, to_tensor

    rgb = load_rgb(str(IMAGES / "tubingen.jpg"), "content")
    h, w = rgb.shape[:2]
    # Plates at the paint size (render.scale 1 paints at the plate's size), 3 px of pan a frame.
    small = to_array(resize(to_tensor(rgb, torch.device("cpu")), fit_size(h, w, int(size / 0.8) + 1)))
    (folder / "plates").mkdir(parents=True)
    crop_w = int(small.shape[1] * 0.8)
    for i in range(frames):
        write_image(folder / "plates" / f"pan.{1001 + i}.png", np.ascontiguousarray(small[:, 3 * i:3 * i + crop_w]))
    shutil.copy(IMAGES / "starry_night.jpg", folder / "style.jpg")
    data = {"name": "pan", "plate": "plates/pan.####.png", "frames": f"1001-{1000 + frames}", "styles": ["style.jpg"],
            "look": {"iterations": iterations, "size": size, "seed": 1, "u": 4.0, "precision": "fp32"},
            "render": {"device": "cpu"}, "output": {"folder": "render"}}
    path = folder / "pan.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _renders(shot: Path, n: int, env: dict) -> float:
    """Seconds until `n` renders of the shot started at once have all exited (a fresh output folder)."""
    shutil.rmtree(shot.parent / "render", ignore_errors=True)
    cmd = [sys.executable, "-m", "impasto", "render", str(shot)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=shot.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"render failed: {err.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--iterations", type=int, default=24)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from impasto.threads import cores

    tmp = Path(tempfile.mkdtemp(prefix="impasto-share-"))
    shot = _shot(tmp, a.frames, a.size, a.iterations)
    base = {k: v for k, v in os.environ.items() if k not in ("IMPASTO_THREADS", "OMP_NUM_THREADS")}
    base["IMPASTO_AUTO_PRECISION"] = "fp32"
    n = cores()
    runs: dict[str, list[float]] = {"one": [], "two_shared": [], "two_oversubscribed": []}
    for rep in range(a.reps):  # alternating, so a change in the machine's load falls on each alike
        runs["one"].append(_renders(shot, 1, base))
        runs["two_shared"].append(_renders(shot, 2, base))
        runs["two_oversubscribed"].append(_renders(shot, 2, {**base, "IMPASTO_THREADS": str(n)}))
        print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in runs.items()), flush=True)
    best = {k: min(v) for k, v in runs.items()}
    out = {"cpu": describe(), "cores": n, "frames": a.frames, "size": a.size, "iterations": a.iterations, "runs": runs,
           "best_s": best, "two_shared_vs_one": best["two_shared"] / best["one"],
           "two_oversubscribed_vs_one": best["two_oversubscribed"] / best["one"], "load_after": os.getloadavg()}
    print(f"{a.frames} frames at {a.size} px, {a.iterations} iterations, {n} cores [{out['cpu']}]: one render "
          f"{best['one']:.1f} s; two at once, sharing {best['two_shared']:.1f} s "
          f"({out['two_shared_vs_one']:.2f}x, target <= 1.1); two at once, a thread per core each "
          f"{best['two_oversubscribed']:.1f} s ({out['two_oversubscribed_vs_one']:.2f}x)")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
