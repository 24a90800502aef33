"""Does reduced precision reach the same loss in less time? (issue 7, part 2)

Renders one content/style pair at each precision (fp32 and bf16 on a CPU; fp32, tf32 and bf16 on CUDA) with the
same look and seed, then judges every result with the same fp32 loss (`impasto.evaluate_loss`). Prints, against
fp32: the final loss ratio (the issue asks for bf16 within 1 %), the time ratio, the mean absolute pixel
difference, and where a bf16 render's line search stalled and fp32 took over. Writes the images side by side.

    python bench/precision.py [--size 256] [--iterations 100] [--u 4] [--device auto] [--out bench/out/precision]

Uses /work/shared/data/images (tubingen.jpg, starry_night.jpg); not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impasto.api import evaluate_loss, render

from impasto.io.tensors import load_rgb

from impasto.devices import resolve_device
from impasto.io.images import write_image
from impasto.look import Look

IMAGES = Path("/work/shared/data/images")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", default=str(IMAGES / "tubingen.jpg"))
    ap.add_argument("--style", default=str(IMAGES / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--u", type=float, default=4.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=Path("bench/out/precision"))
    a = ap.parse_args()

    dev = resolve_device(a.device)
    precisions = ["fp32", "tf32", "bf16"] if dev.type == "cuda" else ["fp32", "bf16"]
    content, style = load_rgb(a.content, "content image"), load_rgb(a.style, "style image")
    a.out.mkdir(parents=True, exist_ok=True)
    judge = Look(u=a.u, size=a.size)
    rows: dict[str, dict] = {}
    images: dict[str, np.ndarray] = {}
    render(content, style, Look(u=a.u, size=64, iterations=2), device=str(dev))  # warm-up: weights, kernels
    for precision in precisions:
        look = Look(u=a.u, size=a.size, iterations=a.iterations, seed=0, precision=precision)
        t0 = time.perf_counter()
        result = render(content, style, look, device=str(dev))
        seconds = time.perf_counter() - t0
        images[precision] = result.image
        loss = evaluate_loss(result.image, content, style, judge, device=str(dev))["total"]
        rows[precision] = {"seconds": seconds, "fp32_loss": loss, "fp32_from": result.fp32_from}
        print(precision, json.dumps(rows[precision]), flush=True)
    base = rows["fp32"]
    for precision, row in rows.items():
        row["loss_ratio"] = row["fp32_loss"] / base["fp32_loss"]
        row["time_ratio"] = row["seconds"] / base["seconds"]
        row["mean_abs_pixel_difference"] = float(np.abs(images[precision] - images["fp32"]).mean())
    write_image(a.out / "side_by_side.png", np.concatenate([images[p] for p in precisions], axis=1))
    result = {"device": str(dev), "size": a.size, "iterations": a.iterations, "u": a.u, "rows": rows}
    (a.out / "precision.json").write_text(json.dumps(result, indent=1))
    print(f"\n{a.size} px, {a.iterations} iterations, u {a.u:g}, on {dev} (images: {' | '.join(precisions)})")
    for precision, row in rows.items():
        stall = "" if row["fp32_from"] is None else f", fp32 from iteration {row['fp32_from']}"
        print(f"  {precision}: loss x{row['loss_ratio']:.4f}, time x{row['time_ratio']:.2f} ({row['seconds']:.1f} s), "
              f"mean |pixel difference| {row['mean_abs_pixel_difference']:.4f}{stall}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
