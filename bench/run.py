"""impasto against pastiche 1.6.0: seconds per iteration, peak memory and time to quality, in one run.

    python bench/run.py [--quick] [--json PATH] [--device cpu|cuda]

Every measurement runs in its own subprocess (clean peak RSS, no warm caches carried between tools), and the
tools alternate, so load from other processes on a shared machine falls on both alike. Time to quality: the
seconds each tool needs to reach the loss pastiche reaches after 256 iterations, with both images judged by
impasto's loss (VGG19 like pastiche, Caffe-scale fzliu normalisation, u 4). pastiche runs with its own loss
weights: set to impasto's objective (`_pastiche(matched=True)`), its L-BFGS without a line search made the loss
worse at this scale (7.6e13 after 30 iterations at 128 px, above impasto's first iterate). Not part of the tests.

Quality per second judged by a network neither tool optimised (bench/judge.py): VGG16 reads pastiche's and
impasto's VGG19 pictures (style: Gram per position against the style image at the render's style scale; content:
relu4_2 relative MSE). impasto's render takes snapshots (bench.judge.snapshot_schedule); each is judged after the
render, off the clock, and `pareto_time_ratio` = the render's elapsed seconds at the first snapshot no worse than
pastiche's 256-iteration picture on both distances / pastiche's seconds for its 256 iterations (None: never
reached in 256 iterations). Target: <= 0.25 at 512 px (full run). `--parts quality` skips the speed table.
Runtime on the shared 2-core AMD EPYC (AVX2): --quick (speed at 128/256 px, quality at 128 px) took 21 min with
other test suites running beside it (load 4-5; its s/it came out 20-60x the unloaded figures), a few minutes
unloaded; the full run took 19 min unloaded before the judging was added (bench/results/run_cpu_full.json), and
the judging adds about 40 VGG16 passes per impasto run. Wall times here are only as good as the machine's quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

IMAGES = Path("/work/shared/data/images")
CONTENT, STYLE = IMAGES / "tubingen.jpg", IMAGES / "starry_night.jpg"
U = 4.0
PASTICHE_ITERATIONS = 256


# --- workers (run in a subprocess each) -----------------------------------------------------------------


def _content(size: tuple[int, int] | int, tmp: str) -> tuple[str, tuple[int, int]]:
    """The content image at this size as a PNG both tools read, and its (h, w)."""
    import torch
    from judge import crop_to_aspect

    from impasto.io.tensors import fit_size, load_rgb, resize, to_array, to_tensor

    rgb = load_rgb(str(CONTENT), "content")
    if isinstance(size, int):
        hw = fit_size(*rgb.shape[:2], size)
    else:
        hw = tuple(size)
        rgb = crop_to_aspect(rgb, hw)  # crop to the aspect first
    img = to_array(resize(to_tensor(rgb, torch.device("cpu")), hw))
    from impasto.io.images import write_image

    path = os.path.join(tmp, f"content_{hw[0]}x{hw[1]}.png")
    write_image(path, img)
    return path, hw


def _look(hw, network="vgg19", **kw):
    from impasto.look import Look

    return Look(u=U, size=max(hw), network=network, seed=0, **kw)


def _pastiche(content_path: str, hw, device: str, matched: bool):
    """A PasticheArtist on the same content and style; `matched` sets its weights to impasto's objective."""
    from pastiche.pastiche import PasticheArtist
    from impasto.objective.controls import style_ratio

    style_edge = round(1.2 * max(hw))
    kw = {}
    if matched:
        # pastiche: content lw * mse(F, P) (mean over C·M), style lw * mse(G/M, A/M); impasto: ½‖F−P‖² and
        # ratio * 0.2 * ‖G−A‖²/(4N²M²) per layer, so lw_c = ½ C M at relu4_2 and lw_s = 0.05 * ratio.
        h4, w4 = hw[0] // 8, hw[1] // 8
        kw = dict(content_layer_weights=[0.5 * 512 * h4 * w4],
                  style_layer_weights=[0.05 * style_ratio(U, max(hw))] * 5)
    return PasticheArtist(content_path, [str(STYLE)], device=device, size=tuple(hw), style_size=style_edge, **kw)


def _pastiche_rgb(artist):
    import numpy as np

    x = artist.pastiche.detach().squeeze(0).cpu().clone()
    for i, m in enumerate((103.939, 116.779, 123.68)):
        x[i] += m
    x = x[[2, 1, 0]] / 255.0
    return x.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak(device: str) -> dict:
    import resource

    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        import torch

        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def worker_speed(tool: str, size, iterations: int, device: str, precision: str, tmp: str) -> dict:
    """Seconds per iteration (median after two warm-up iterations), wall and CPU, and the peak memory."""

    content_path, hw = _content(size, tmp)
    walls, cpus = [], []
    if tool == "pastiche":
        artist = _pastiche(content_path, hw, device, matched=False)
        step = artist.draw
        for i in range(2 + iterations):
            _sync(device)
            w, c = time.perf_counter(), time.process_time()
            step()
            _sync(device)
            if i >= 2:
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
    else:
        from impasto.api import render

        network = tool.split("-")[1]
        marks = []

        def progress(p):
            marks.append((time.perf_counter(), time.process_time()))

        render(content_path, str(STYLE), _look(hw, network, iterations=2 + iterations, precision=precision),
               device=device, progress=progress)
        for (w0, c0), (w1, c1) in zip(marks[1:], marks[2:]):
            walls.append(w1 - w0)
            cpus.append(c1 - c0)
    from impasto.optim.memory import estimate_memory

    return {"tool": tool, "hw": list(hw), "s_per_it": statistics.median(walls), "cpu_s_per_it": statistics.median(cpus),
            "estimate_mib": estimate_memory(*hw, tool.split("-")[1] if "-" in tool else "vgg19") / 2**20,
            **_peak(device)}


WARMUP, MEASURED = 8, 24  # iterations: the first line searches left out, then the ones timed (three-way table)


def bare_loop(content_path: str, hw, iterations: int, device: str, precision: str, style_path: str | None = None):
    """Gatys by hand: the same weights, images, size, u, precision and L-BFGS settings as impasto's VGG16 render,
    in plain PyTorch and nothing else (no terms, no caches, no progress), so impasto's ratio to it is overhead.
    Returns the L-BFGS, a closure that counts its evaluations, and the counter."""
    import torch
    import torch.nn.functional as F

    from impasto.features.weights import CAFFE, load_weights
    from impasto.io.tensors import fit_size, load_rgb, resize, to_tensor
    from impasto.objective.controls import style_ratio
    from impasto.optim.solve import LBFGS_HISTORY, LBFGS_MAX_LINE_SEARCH

    dev = torch.device(device)
    w = load_weights("vgg16")
    convs = [(w.tensors[f"{n}.weight"].to(dev), w.tensors[f"{n}.bias"].to(dev)) for n in
             ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2",
              "conv4_3", "conv5_1"]]
    mean = torch.tensor([103.939, 116.779, 123.68], device=dev).view(1, 3, 1, 1)
    inet = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    bf16 = precision == "bf16"
    if dev.type == "cuda":  # tf32 as impasto sets it (features/precision.py); fp32 and bf16 keep full fp32 matmuls
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"

    def vgg(rgb):  # relu1_1 relu2_1 relu3_1 relu4_1 relu4_2 relu5_1
        x = rgb.flip(1) * 255.0 - mean if w.preprocessing == CAFFE else (rgb - inet[0]) / inet[1]
        out, i = [], 0
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            for block, n in enumerate((2, 2, 3, 3, 1), start=1):
                for j in range(n):
                    x = F.relu(F.conv2d(x, *convs[i], padding=1))
                    i += 1
                    if j == 0 or (block == 4 and j == 1):
                        out.append(x)
                if block < 5:
                    x = F.max_pool2d(x, 2)
        return out[:4] + out[5:], out[4]  # style layers, content layer

    def gram(f):
        f = f.reshape(f.shape[1], -1).float()
        return f @ f.T

    content = resize(to_tensor(load_rgb(content_path, "content"), dev), hw)
    style_rgb = load_rgb(style_path or str(STYLE), "style")
    style = resize(to_tensor(style_rgb, dev), fit_size(*style_rgb.shape[:2], round(1.2 * max(hw))))
    with torch.no_grad():
        targets = [gram(f) / (f.shape[2] * f.shape[3]) for f in vgg(style)[0]]  # per position
        p = vgg(content)[1].float()
    ratio = style_ratio(U, max(hw))
    x = content.clone().requires_grad_(True)
    scale, evals = [], [0]

    def loss_of(img):
        styles, c = vgg(img.clamp(0, 1))
        loss = 0.5 * (c.float() - p).pow(2).sum()
        for f, a in zip(styles, targets):
            n, m = f.shape[1], f.shape[2] * f.shape[3]
            loss = loss + ratio * 0.2 * (gram(f) - a * m).pow(2).sum() / (4.0 * n * n * m * m)
        return loss

    def closure():
        evals[0] += 1
        opt.zero_grad()
        loss = loss_of(x)
        if not scale:
            scale.append(float(loss.detach()))
        obj = loss / scale[0] + (x - x.clamp(0, 1)).pow(2).mean()
        obj.backward()
        return obj

    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=iterations, max_eval=iterations * (LBFGS_MAX_LINE_SEARCH + 1),
                            tolerance_grad=-1.0, tolerance_change=-1.0, history_size=LBFGS_HISTORY,
                            line_search_fn="strong_wolfe")
    return opt, closure, evals, x, loss_of


def time_bare(content_path: str, hw, device: str, precision: str, warm: int, timed: int,
              style_path: str | None = None) -> dict:
    """The bare loop's seconds per iteration and per evaluation over `timed` iterations after `warm`."""
    import torch

    opt, closure, evals, x, loss_of = bare_loop(content_path, hw, warm, device, precision, style_path)
    opt.step(closure)  # the warm-up iterations
    n0, e0 = opt.state[x]["n_iter"], evals[0]
    opt.param_groups[0]["max_iter"] = timed
    opt.param_groups[0]["max_eval"] = timed * 26
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    opt.step(closure)
    _sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    its, n_evals = opt.state[x]["n_iter"] - n0, evals[0] - e0
    with torch.no_grad():
        final = float(loss_of(x.detach()))
    return {"precision": precision, "iterations": its, "evaluations": n_evals, "s_per_it": wall / its,
            "cpu_s_per_it": cpu / its, "s_per_eval": wall / max(1, n_evals), "evals_per_it": n_evals / its,
            "final_loss": final}


def worker_overhead(tool: str, size, device: str, precision: str, tmp: str) -> dict:
    """Seconds per accepted iteration, per network evaluation (forward + backward) and evaluations per iteration
    over MEASURED iterations after WARMUP, for impasto's VGG16 render or the bare loop."""
    import torch

    from impasto.features.precision import resolve_precision

    content_path, hw = _content(size, tmp)
    precision = resolve_precision(precision, torch.device(device))
    if tool == "bare":
        return {"tool": tool, "hw": list(hw), **time_bare(content_path, hw, device, precision, WARMUP, MEASURED),
                **_peak(device)}
    else:
        from impasto.api import render
        from impasto.objective.objective import Objective

        calls = [0]
        real = Objective.evaluate

        def counted(self, pixels):
            calls[0] += 1
            return real(self, pixels)

        Objective.evaluate = counted
        marks = []

        def progress(p):
            marks.append((time.perf_counter(), time.process_time(), calls[0]))

        res = render(content_path, str(STYLE), _look(hw, "vgg16", iterations=WARMUP + MEASURED, precision=precision),
                     device=device, progress=progress)
        (w0, c0, e0), (w1, c1, e1) = marks[WARMUP - 1], marks[-1]
        wall, cpu, its, n_evals = w1 - w0, c1 - c0, len(marks) - WARMUP, e1 - e0
        final = res.history[-1].loss
    return {"tool": tool, "hw": list(hw), "precision": precision, "iterations": its, "evaluations": n_evals,
            "s_per_it": wall / its, "cpu_s_per_it": cpu / its, "s_per_eval": wall / max(1, n_evals),
            "evals_per_it": n_evals / its, "final_loss": final, **_peak(device)}


def worker_quality(tool: str, size, iterations: int, device: str, target: float | None, levels: int,
                   precision: str, tmp: str, reference: dict | None = None) -> dict:
    """Loss (impasto's, fp32) against seconds; for pastiche its final image after `iterations` steps. Both are also
    judged by the network neither optimised (bench/judge.py); impasto's snapshots too, against `reference`
    (pastiche's judged distances) for the time to a picture at least as good on both."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from judge import Judge, judge_network, judge_snapshots, pareto_hit, snapshot_schedule

    from impasto.api import evaluate_loss, render
    from impasto.features.net import feature_net

    content_path, hw = _content(size, tmp)
    feature_net("vgg19", None, "max", "cuda" if device.startswith("cuda") else "cpu")  # loaded before the clock
    out = {"tool": tool, "hw": list(hw), "levels": levels, "precision": precision}
    if tool == "pastiche":
        artist = _pastiche(content_path, hw, device, matched=False)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iterations):
            artist.draw()
        _sync(device)
        out["seconds"] = time.perf_counter() - t0
        out["iterations"] = iterations
        image = _pastiche_rgb(artist)
    else:
        trace = []

        def progress(p):
            trace.append((p.iteration, p.elapsed, p.loss))

        r = render(content_path, str(STYLE), _look(hw, "vgg19", iterations=iterations, levels=levels,
                                                   precision=precision), device=device, progress=progress,
                   snapshots=snapshot_schedule(iterations))
        image = r.image
        fine_from = iterations - _fine_iterations(iterations, levels)
        out["trace"] = [t for t in trace if t[0] > fine_from]  # losses at full size only
        out["seconds"] = r.seconds
        out["iterations"] = iterations
        if target is not None:
            hit = next((t for t in out["trace"] if t[2] <= target), None)
            out["time_to_quality_s"] = hit[1] if hit else None
            out["iterations_to_quality"] = hit[0] if hit else None
    judge_device = "cuda" if device.startswith("cuda") else "cpu"
    out["final_loss"] = evaluate_loss(image, content_path, str(STYLE), _look(hw, "vgg19"),
                                      device=judge_device)["total"]
    judge = Judge(judge_network("vgg19"), content_path, str(STYLE), hw, style_scale=1.2, device=judge_device)
    out["judge"] = judge.network
    out["judged"] = judge(image)  # the final picture
    if tool != "pastiche":
        series = judge_snapshots(judge, r.snapshots, r.history)
        out["judged_snapshots"] = series
        if reference is not None:
            hit = pareto_hit(reference, series)
            out["pareto_time_s"] = hit["elapsed"] if hit else None
            out["pareto_iteration"] = hit["iteration"] if hit else None
    import numpy as np

    np.save(os.path.join(tmp, f"{tool}_{levels}_{precision}.npy"), image)
    return out


def _fine_iterations(iterations: int, levels: int) -> int:
    from impasto.optim.strategies import level_iterations

    return level_iterations(iterations, levels)[-1]


def style_distance(a_path: str, b_path: str, tmp: str) -> float:
    """Mean absolute pixel difference of two results (how far coarse-to-fine's look is from single-scale's)."""
    import numpy as np

    return float(np.abs(np.load(a_path) - np.load(b_path)).mean())


# --- the driver -----------------------------------------------------------------------------------------


def _run(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        out = {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    else:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    print("  ", json.dumps({k: v for k, v in out.items() if k != "trace"}), file=sys.stderr, flush=True)
    return out


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few iterations per speed figure at 128 and 256 px; time to quality at 128 px (full: 512 px)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--parts", default="speed,overhead,quality", help="comma list of speed, overhead (impasto against a bare PyTorch loop), quality (default all)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        kind, *rest = json.loads(a.worker)
        fn = {"speed": worker_speed, "quality": worker_quality, "overhead": worker_overhead}[kind]
        print(json.dumps(fn(*rest)))
        return 0

    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    cuda = device.startswith("cuda")
    speed_sizes = [1024, [1080, 2048], [2160, 4096]] if cuda else ([128, 256] if a.quick else [256, 512])
    quality_size = 128 if a.quick else 512  # the CPU target is time to quality at 512 px
    reps = 1 if a.quick else 2
    n_it = 3 if a.quick else 8
    tmp = tempfile.mkdtemp(prefix="impasto-bench-")
    results: dict = {"device": device, "quick": a.quick, "load_before": os.getloadavg(),
                     "note": "tools alternate in separate processes; on a shared CPU, wall times carry other "
                             "processes' load, CPU-seconds less so", "speed": [], "quality": {}}
    t_start = time.perf_counter()
    log = lambda *m: print(*m, file=sys.stderr, flush=True)  # noqa: E731

    # 1. seconds per iteration and peak memory, interleaved
    parts = set(a.parts.split(","))
    for size in speed_sizes if "speed" in parts else []:
        row: dict = {"size": size}
        for rep in range(reps):
            for tool in ("impasto-vgg19", "pastiche", "impasto-vgg16"):
                if tool == "pastiche" and max(size if isinstance(size, list) else [size]) > 2048:
                    continue  # pastiche at 4K does not fit the time budget
                log(f"speed {tool} {size} rep {rep + 1}")
                r = _run(["speed", tool, size, n_it, device, "auto", tmp], timeout=1800)
                row.setdefault(tool, []).append(r)
        summary = {"size": size}
        for tool, runs in row.items():
            if tool == "size":
                continue
            ok = [r for r in runs if "error" not in r]
            if not ok:
                summary[tool] = {"error": runs[0]["error"]}
                continue
            summary[tool] = {k: statistics.median(r[k] for r in ok) for k in ok[0] if isinstance(ok[0][k], float)}
            summary["hw"] = ok[0]["hw"]
        for tool in ("impasto-vgg19", "impasto-vgg16"):
            if "s_per_it" in summary.get(tool, {}) and "s_per_it" in summary.get("pastiche", {}):
                summary[f"{tool}_s_per_it_ratio"] = _ratio(summary[tool]["s_per_it"], summary["pastiche"]["s_per_it"])
                summary[f"{tool}_cpu_s_per_it_ratio"] = _ratio(summary[tool]["cpu_s_per_it"],
                                                               summary["pastiche"]["cpu_s_per_it"])
                mem = "peak_cuda_mib" if cuda else "peak_rss_mib"
                summary[f"{tool}_memory_ratio"] = _ratio(summary[tool][mem], summary["pastiche"][mem])
        results["speed"].append(summary)

    # 1b. impasto against a bare loop of plain PyTorch (and pastiche), same run: what each iteration spends
    #     outside the arithmetic. 512x384 in the full run (the size), 256x192 with --quick.
    if "overhead" in parts:
        hw = [192, 256] if a.quick else [384, 512]
        rows: dict = {}
        for rep in range(reps):
            for tool in ("bare", "impasto", "pastiche"):
                log(f"overhead {tool} {hw} rep {rep + 1}")
                if tool == "pastiche":
                    r = _run(["speed", "pastiche", hw, MEASURED if not a.quick else 8, device, "auto", tmp], 3600)
                else:
                    r = _run(["overhead", tool, hw, device, "auto", tmp], timeout=3600)
                rows.setdefault(tool, []).append(r)
        table = {"hw": hw}
        for tool, runs in rows.items():
            ok = [r for r in runs if "error" not in r]
            table[tool] = ({k: statistics.median(r[k] for r in ok) for k in ok[0] if isinstance(ok[0][k], (int, float))}
                           if ok else {"error": runs[0]["error"]})
            if ok and "precision" in ok[0]:
                table[tool]["precision"] = ok[0]["precision"]
        table["impasto_vs_bare_s_per_it_ratio"] = _ratio(table["impasto"].get("s_per_it"), table["bare"].get("s_per_it"))
        table["impasto_vs_bare_s_per_eval_ratio"] = _ratio(table["impasto"].get("s_per_eval"), table["bare"].get("s_per_eval"))
        table["impasto_vs_pastiche_s_per_it_ratio"] = _ratio(table["impasto"].get("s_per_it"),
                                                            table["pastiche"].get("s_per_it"))
        results["overhead"] = table

    # 2. time to quality: pastiche's loss after 256 iterations, then how long impasto takes to reach it
    if "quality" not in parts:
        return _finish(results, t_start, a.json)
    log(f"quality pastiche {quality_size} x{PASTICHE_ITERATIONS}")
    pas = _run(["quality", "pastiche", quality_size, PASTICHE_ITERATIONS, device, None, 1, "fp32", tmp], 3600)
    results["quality"]["pastiche"] = pas
    target = pas.get("final_loss")
    runs = [("impasto", 1, "auto"), ("impasto_levels3", 3, "auto")]
    if not a.quick:
        runs.append(("impasto_levels2", 2, "auto"))
        if cuda:
            runs.append(("impasto_bf16", 1, "bf16"))
    for name, levels, precision in runs:
        log(f"quality {name} {quality_size}")
        r = _run(["quality", "impasto", quality_size, PASTICHE_ITERATIONS, device, target, levels, precision, tmp,
                  pas.get("judged")], 3600)
        r.pop("trace", None) if a.quick else None
        results["quality"][name] = r
        r["time_to_quality_ratio"] = _ratio(r.get("time_to_quality_s"), pas.get("seconds"))
        r["pareto_time_ratio"] = _ratio(r.get("pareto_time_s"), pas.get("seconds"))
        r["final_loss_ratio"] = _ratio(r.get("final_loss"), target)
    single = os.path.join(tmp, "impasto_1_auto.npy")
    for name, levels, precision in runs[1:]:
        other = os.path.join(tmp, f"impasto_{levels}_{precision}.npy")
        if os.path.exists(single) and os.path.exists(other):
            results["quality"][name]["pixel_distance_to_single_scale"] = style_distance(single, other, tmp)
    if "pareto_time_ratio" in results["quality"].get("impasto", {}):
        results["pareto_time_ratio"] = results["quality"]["impasto"]["pareto_time_ratio"]
    return _finish(results, t_start, a.json)


def _finish(results: dict, t_start: float, json_path: Path | None) -> int:
    results["seconds"] = time.perf_counter() - t_start
    results["load_after"] = os.getloadavg()
    results["cpu"] = describe()
    _print_table(results)
    if json_path:
        json_path.write_text(json.dumps(results, indent=1))
    return 0


def _print_table(r: dict) -> None:
    print(f"impasto vs pastiche 1.6.0 on {r['device']} [{r.get('cpu', '')}] "
          f"({'quick' if r['quick'] else 'full'}, {r['seconds']:.0f} s; "
          f"load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}). {r['note']}.")
    print("\nseconds per iteration (wall / CPU), peak memory MiB, median after warm-up")
    mem = "peak_cuda_mib" if r["device"].startswith("cuda") else "peak_rss_mib"
    for s in r["speed"]:
        hw = "x".join(map(str, reversed(s.get("hw", [])))) or s["size"]
        cells = []
        for tool in ("pastiche", "impasto-vgg19", "impasto-vgg16"):
            t = s.get(tool)
            if not t or "s_per_it" not in t:
                cells.append(f"{tool} -")
                continue
            ratio = s.get(f"{tool}_s_per_it_ratio")
            cells.append(f"{tool} {t['s_per_it']:.3f}/{t['cpu_s_per_it']:.3f} s {t[mem]:.0f} MiB"
                         + (f" (ratio {ratio:.2f})" if ratio else ""))
        print(f"  {hw}: " + "; ".join(cells))
    o = r.get("overhead")
    if o:
        print(f"\nthree-way at {o['hw'][1]}x{o['hw'][0]} (VGG16, {o['impasto'].get('precision', '?')}; "
              f"{MEASURED} iterations after {WARMUP} warm-up)")
        for tool in ("bare", "impasto", "pastiche"):
            t = o.get(tool, {})
            if "s_per_it" not in t:
                print(f"  {tool}: {t.get('error', '-')}")
                continue
            extra = (f", {t['s_per_eval']:.3f} s per evaluation x {t['evals_per_it']:.2f} evaluations per iteration, "
                     f"loss {t['final_loss']:.4g}") if "s_per_eval" in t else " (pastiche VGG19, its own loss)"
            print(f"  {tool}: {t['s_per_it']:.3f} s/it wall, {t['cpu_s_per_it']:.3f} CPU{extra}")
        print(f"  impasto_vs_bare_s_per_it_ratio {o['impasto_vs_bare_s_per_it_ratio']}, per evaluation "
              f"{o['impasto_vs_bare_s_per_eval_ratio']} (target <= 1.2); impasto vs pastiche "
              f"{o['impasto_vs_pastiche_s_per_it_ratio']}")
    q = r["quality"]
    if not q:
        return
    p = q.get("pastiche", {})
    print(f"\ntime to quality ({PASTICHE_ITERATIONS} pastiche iterations, both judged by impasto's VGG19 loss)")
    print(f"  pastiche: loss {p.get('final_loss', float('nan')):.4g} in {p.get('seconds', float('nan')):.1f} s")
    j = p.get("judged") or {}
    for name, v in q.items():
        if name == "pastiche":
            continue
        ttq = v.get("time_to_quality_s")
        print(f"  {name}: reaches it in {ttq if ttq is None else round(ttq, 1)} s at iteration "
              f"{v.get('iterations_to_quality')} (time_to_quality_ratio {v.get('time_to_quality_ratio')}); "
              f"after {v.get('iterations')} iterations loss {v.get('final_loss', float('nan')):.4g} "
              f"in {v.get('seconds', float('nan')):.1f} s"
              + (f"; pixel distance to single-scale {v['pixel_distance_to_single_scale']:.3f}"
                 if "pixel_distance_to_single_scale" in v else ""))
    if j:
        print(f"\nquality per second, judged by {p.get('judge')} (neither tool optimised it); "
              f"pastiche's {PASTICHE_ITERATIONS}-iteration picture: style {j['style']:.4g}, content {j['content']:.4g}")
        for name, v in q.items():
            if name == "pastiche" or "judged" not in v:
                continue
            pr = v.get("pareto_time_ratio")
            print(f"  {name}: as good on both at iteration {v.get('pareto_iteration')} after "
                  f"{v.get('pareto_time_s') if v.get('pareto_time_s') is None else round(v['pareto_time_s'], 1)} s "
                  f"(pareto_time_ratio {pr if pr is None else round(pr, 3)}, target at 512 px <= 0.15 with AVX512-BF16, <= 0.25 AVX2-only); final picture: "
                  f"style {v['judged']['style']:.4g}, content {v['judged']['content']:.4g}")


if __name__ == "__main__":
    sys.exit(main())
