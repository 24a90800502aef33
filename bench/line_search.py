"""L-BFGS with the strong-Wolfe line search (impasto's) against a fixed step (no line search): quality per second.

    python bench/line_search.py [--size 256] [--iterations 128] [--json PATH]

The same render (tubingen x starry_night, u 4, VGG16, fp32) both ways; each one's loss after every iteration
against the seconds so far, and the time each needs to reach the loss the other ends at. A fixed step spends one
network evaluation per iteration and no more; the line search may spend several but keeps every step a descent.
Not part of the tests.
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
from run import STYLE, U, _content  # noqa: E402


def _render(content_path: str, size: int, iterations: int, line_search: bool) -> dict:
    import impasto.optim.solve as solve
    from impasto.api import render
    from impasto.look import Look

    real = solve._optimiser

    def fixed(x, optimizer, lr):
        return torch.optim.LBFGS([x], lr=lr or 1.0, max_iter=1, max_eval=1, tolerance_grad=-1.0,
                                 tolerance_change=-1.0, history_size=solve.LBFGS_HISTORY, line_search_fn=None)

    solve._optimiser = real if line_search else fixed
    trace = []
    t0 = time.perf_counter()
    try:
        res = render(content_path, str(STYLE), Look(u=U, size=size, network="vgg16", seed=0, iterations=iterations,
                                                   precision="fp32"), device="cpu",
                     progress=lambda p: trace.append((p.iteration, time.perf_counter() - t0, p.loss)))
    finally:
        solve._optimiser = real
    return {"line_search": line_search, "seconds": time.perf_counter() - t0, "iterations": res.history[-1].iteration,
            "final_loss": res.history[-1].loss, "trace": trace}


def _time_to(trace: list, loss: float) -> float | None:
    return next((t for _, t, v in trace if v <= loss), None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=128)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    import tempfile

    content_path, hw = _content(a.size, tempfile.mkdtemp())
    wolfe = _render(content_path, a.size, a.iterations, True)
    fixed = _render(content_path, a.size, a.iterations, False)
    out = {"hw": hw, "iterations": a.iterations, "cpu": describe(),
           "threads": torch.get_num_threads(), "strong_wolfe": wolfe, "fixed_step": fixed,
           "fixed_s_to_wolfe_final": _time_to(fixed["trace"], wolfe["final_loss"]),
           "wolfe_s_to_fixed_final": _time_to(wolfe["trace"], fixed["final_loss"])}
    for name, r in (("strong-Wolfe", wolfe), ("fixed step", fixed)):
        print(f"{name}: loss {r['final_loss']:.4g} after {r['iterations']} iterations in {r['seconds']:.1f} s")
    print(f"fixed step reaches strong-Wolfe's final loss after {out['fixed_s_to_wolfe_final']} s; strong-Wolfe "
          f"reaches the fixed step's after {out['wolfe_s_to_fixed_final']} s")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
