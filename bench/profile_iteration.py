"""Where one iteration's time goes: torch.profiler over a VGG16 render (default 512x384, the look's precision
'auto'), the operators grouped as convolution, pooling and ReLU, Gram matrices and other matmuls, copies and dtype
conversions, and everything else; against the wall time of the iterations profiled.

    python bench/profile_iteration.py [--size 512] [--iterations 6] [--precision auto] [--json PATH]

Not part of the tests. The first iterations (line-search warm-up) are left out of the profile.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from run import CONTENT, STYLE, U, _content  # noqa: E402

GROUPS = {
    "convolution": ("conv", "mkldnn_convolution", "convolution_backward", "_convolution", "thnn_conv"),
    "pool and relu": ("max_pool", "relu", "threshold", "clamp_min"),
    "matmul (Gram)": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"),
    "copies and casts": ("aten::copy_", "aten::to", "aten::_to_copy", "aten::clone", "aten::contiguous",
                         "aten::empty_like", "aten::flip"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    from impasto.api import render
    from impasto.features.precision import resolve_precision
    from impasto.look import Look

    import tempfile

    tmp = tempfile.mkdtemp()
    content_path, hw = _content([a.size * 3 // 4, a.size], tmp)
    precision = resolve_precision(a.precision, torch.device("cpu"))
    look = Look(u=U, size=max(hw), network="vgg16", seed=0, iterations=a.warmup + a.iterations, precision=precision)
    state: dict = {}

    def progress(p) -> None:
        if p.iteration == a.warmup:
            state["prof"] = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            state["prof"].__enter__()
            state["t0"] = time.perf_counter()
        elif p.iteration == a.warmup + a.iterations:
            state["wall"] = time.perf_counter() - state["t0"]
            state["prof"].__exit__(None, None, None)

    render(content_path, str(STYLE), look, device="cpu", progress=progress)
    prof = state["prof"]
    rows = [e for e in prof.key_averages()]
    total_self = sum(e.self_cpu_time_total for e in rows) / 1e6
    grouped = {g: 0.0 for g in GROUPS} | {"other": 0.0}
    for e in rows:
        t = e.self_cpu_time_total / 1e6
        for g, keys in GROUPS.items():
            if any(k in e.key for k in keys):
                grouped[g] += t
                break
        else:
            grouped["other"] += t
    wall = state["wall"]
    print(f"{a.iterations} iterations at {hw[1]}x{hw[0]}, VGG16, {precision}: {wall:.2f} s wall "
          f"({wall / a.iterations:.3f} s/it); operators' self time {total_self:.2f} s "
          f"(CPU time of {torch.get_num_threads()} threads' ops; the rest of the wall is Python between them)")
    for g, t in grouped.items():
        print(f"  {g:<18} {t:7.2f} s  {100 * t / max(total_self, 1e-9):5.1f} %")
    print("\ntop operators by self time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    if a.json:
        a.json.write_text(json.dumps({"hw": hw, "precision": precision, "iterations": a.iterations, "wall_s": wall,
                                      "ops_self_s": total_self, "groups_s": grouped,
                                      "cpu": describe()
                                      }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
