"""Which learned painter (issue 26): one variant of the network and loss, learned from four optimised Megamind
keyframes, scored on frames it did not see against their optimisation (the look's own loss, fp32).

    python bench/learned_variants.py NAME STEPS POSITIONAL FEATURE_WEIGHT [LAYERS] [--gram W] [--width W] [--lr LR]
    python bench/learned_variants.py pos8_f123 600 8 1 relu1_1,relu2_1,relu3_1

Frames 1, 9, 17 and 24 of Megamind.avi (numbered from 0) at 256 px are optimised once (u 4, 128 iterations; kept
in --cache, so variants compare on the same paintings); the painter learns from them; frames 5 and 13 (never seen)
and 1 (seen) are painted by it and by the optimisation and their losses compared (total, style, content: the
painter's over the optimisation's). Prints one line and appends it to the JSON file --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from temporal import CLIPS, STYLE, machine  # noqa: E402

from impasto.api import render  # noqa: E402
from impasto.fast import model as fast_model  # noqa: E402
from impasto.fast.learn import Example, LearnSettings, learn  # noqa: E402
from impasto.fast.loss import GatysLoss, score  # noqa: E402
from impasto.io.sequence import movie_frames  # noqa: E402
from impasto.io.tensors import fit_size, load_rgb, resize, to_array, to_tensor  # noqa: E402
from impasto.look import Look  # noqa: E402

KEYS, UNSEEN = (1, 9, 17, 24), (5, 13)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("steps", type=int)
    ap.add_argument("positional", type=int)
    ap.add_argument("feature_weight", type=float)
    ap.add_argument("layers", nargs="?", default="relu1_1,relu2_1,relu3_1")
    ap.add_argument("--gram", type=float, default=0.0)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--edge", type=int, default=256)
    ap.add_argument("--cache", default="/tmp/impasto-learned-variants.pkl")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "learned_variants_cpu_megamind_e256_i128.json"))
    a = ap.parse_args()
    fast_model.PRESETS["variant"] = dataclasses.replace(fast_model.PRESETS["learned"], positional=a.positional, width=a.width)
    frames = {}
    for n, rgb in movie_frames(str(CLIPS / "Megamind.avi"), first_frame=0):
        if n in (*KEYS, *UNSEEN):
            frames[n] = to_array(resize(to_tensor(rgb.astype(np.float32), torch.device("cpu")), fit_size(*rgb.shape[:2], a.edge)))
        if n > max(KEYS):
            break
    style = load_rgb(str(STYLE), "style image")
    look = Look(size=a.edge, iterations=128, u=4.0)
    cache = pickle.load(open(a.cache, "rb")) if Path(a.cache).exists() else {}
    for n in (*KEYS, *UNSEEN):
        if n not in cache:
            cache[n] = render(frames[n], [style], look, device="cpu").image
    pickle.dump(cache, open(a.cache, "wb"))
    settings = LearnSettings(steps=a.steps, device="cpu", preset="variant", feature_weight=a.feature_weight,
                             feature_layers=tuple(a.layers.split(",")), gram_weight=a.gram, lr=a.lr)
    t = time.perf_counter()
    result = learn(look, [style], [Example(frames[n], cache[n], 4.0, f"f{n}") for n in KEYS], f"/tmp/{a.name}.pt",
                   settings, resume=False)
    seconds = time.perf_counter() - t
    loss = GatysLoss(look, [style], a.edge, torch.device("cpu"))
    row = {"name": a.name, "args": vars(a), "learn_s": round(seconds, 1), "s_per_step": round(seconds / a.steps, 3),
           "cpu": machine()["cpu"], "frames": {}}
    for n in (KEYS[0], *UNSEEN):
        painted = result.model.paint(frames[n], [4.0], device="cpu")[0]
        mine, opt = score(loss, painted, frames[n], 4.0), score(loss, cache[n], frames[n], 4.0)
        row["frames"][f"{n}{' (seen)' if n in KEYS else ''}"] = {k: round(mine[k] / opt[k], 2) for k in ("total", "style", "content")}
    print(json.dumps(row), flush=True)
    out = Path(a.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*rows, row], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
