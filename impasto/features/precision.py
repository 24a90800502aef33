"""Numeric precision of the feature network: fp32, TF32 (CUDA) or bfloat16 autocast, and what 'auto' picks.

'auto' is decided by measurement, once per machine: a VGG16 forward and backward pass at a mid size, timed in
the device's default precision (fp32 on CPUs, TF32 on CUDA) and under bfloat16 autocast. bf16 is chosen only
where it is at least 1.2× faster; CPUs differ widely (an AMD EPYC with AVX512-BF16 ran VGG16 1.6× faster in bf16,
an Intel Xeon without AMX and an AVX2-only EPYC ran it slower), so no CPU family is assumed. The result is kept
in `precision.json` beside the cached weights, keyed by processor, core count, torch version and device.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch

from impasto.errors import ImpastoError, UsageError
from impasto.features.vgg import VGGFeatures
from impasto.features.weights import cache_dir
from impasto.files import atomic_write_text
from impasto.threads import cores

AUTO_ENV = "IMPASTO_AUTO_PRECISION"  # what 'auto' means without measuring: fp32, tf32 or bf16 (tests, pinned farms)
PROBE_FILE = "precision.json"
PROBE_SIZE = (192, 256)  # H×W: large enough that the convolutions dominate, small enough to take seconds
PROBE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
BF16_SPEEDUP = 1.2  # bf16 must be at least this much faster to be chosen: its rounding costs a little quality


@dataclass(frozen=True)
class PrecisionChoice:
    """What 'auto' resolved to on one device, and why (one line)."""

    precision: str
    reason: str
    default_s: float | None = None  # seconds per probe pass in the device's default precision
    bf16_s: float | None = None


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' as measured on this machine (see `auto_precision`); tf32 is fp32 off CUDA."""
    if precision == "auto":
        return auto_precision(device).precision
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


def explain_precision(precision: str, device: torch.device) -> str:
    """One line: the precision a render with `precision` runs in on `device`, and why."""
    if precision == "auto":
        return auto_precision(device).reason
    resolved = resolve_precision(precision, device)
    return f"{resolved}: asked for" + ("" if resolved == precision else f" ({precision} is fp32 off CUDA)")


def machine_key(device: torch.device) -> str:
    """What a precision measurement depends on: the processor (or GPU), cores, torch and the device."""
    if device.type == "cuda":
        index = device.index or 0
        chip = f"{torch.cuda.get_device_name(index)} sm{''.join(map(str, torch.cuda.get_device_capability(index)))}"
        return f"cuda | {chip} | torch {torch.__version__} | cuda {torch.version.cuda}"
    # The cores, not torch's threads now: a painter's share of them changes as others come and go (impasto.threads).
    return (f"{device.type} | {cpu_model()} | {os.cpu_count()} cores | {cores()} threads | "
            f"{torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__}")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


_CHOICES: dict[str, PrecisionChoice] = {}


def auto_precision(device: torch.device, *, measure: Callable[[torch.device], dict[str, float]] | None = None
                   ) -> PrecisionChoice:
    # `measure` stands in for the real probe in tests
    """What 'auto' means on `device`: $IMPASTO_AUTO_PRECISION if set, else measured once per machine and cached."""
    forced = os.environ.get(AUTO_ENV, "").strip().lower()
    default = "tf32" if device.type == "cuda" else "fp32"
    if forced:
        if forced not in ("fp32", "tf32", "bf16"):
            raise UsageError(f"${AUTO_ENV} is '{forced}'; set it to fp32, tf32 or bf16, or unset it.")
        chosen = "fp32" if forced == "tf32" and device.type != "cuda" else forced
        return PrecisionChoice(chosen, f"{chosen}: set by ${AUTO_ENV}")
    if device.type not in ("cpu", "cuda"):
        return PrecisionChoice("fp32", f"fp32: bf16 is not measured on {device.type}")
    key = machine_key(device)
    if key in _CHOICES:
        return _CHOICES[key]
    stored = _read_store()
    if key in stored:
        try:
            choice = PrecisionChoice(**stored[key]["choice"])
        except (TypeError, KeyError):
            choice = None
        if choice is not None:
            _CHOICES[key] = choice
            return choice
    times = (measure or measure_passes)(device)
    choice = decide(times, default, device)
    _CHOICES[key] = choice
    stored[key] = {"choice": asdict(choice), "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_store(stored)
    return choice


def decide(times: dict[str, float], default: str, device: torch.device) -> PrecisionChoice:
    """bf16 where a pass is at least BF16_SPEEDUP× faster than in the default precision, else the default."""
    base, bf16 = times[default], times["bf16"]
    where = "this GPU" if device.type == "cuda" else f"this CPU ({cpu_model()}, {os.cpu_count()} cores)"
    speedup = base / bf16 if bf16 > 0 else 0.0
    what = "a bf16 convolution" if times.get("screened") else "a bf16 VGG16 pass"
    if speedup >= BF16_SPEEDUP:
        return PrecisionChoice("bf16", f"bf16: {what} measured {speedup:.2f}× faster than {default} on {where}",
                               base, bf16)
    return PrecisionChoice(default, f"{default}: {what} measured {speedup:.2f}× {default}'s speed on {where} "
                                    f"(bf16 must be {BF16_SPEEDUP:g}× faster to be chosen)", base, bf16)


def screen_bf16(device: torch.device) -> float:
    """How many times faster one small VGG-like convolution runs in bf16 than in the default precision.

    Milliseconds on any machine, where a full pass can take minutes in bf16 on CPUs that only emulate it (AVX2).
    """
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).eval().requires_grad_(False).to(device)
    x = torch.rand(1, 128, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    default = "tf32" if device.type == "cuda" else "fp32"
    best = {}
    for precision in (default, "bf16"):
        with precision_mode(device, precision), autocast(device, precision), torch.inference_mode():
            times = []
            for _ in range(4):  # the first is a warm-up
                t0 = time.perf_counter()
                conv(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - t0)
        best[precision] = min(times[1:])
    return best[default] / max(best["bf16"], 1e-9)


def measure_passes(device: torch.device, size: tuple[int, int] = PROBE_SIZE, runs: int = 2) -> dict[str, float]:
    """Seconds per VGG16 forward+backward pass (best of `runs` after a warm-up) in the default precision and in bf16.

    Random weights: the time of a pass does not depend on the weights' values, and no weights need be present.
    Where one bf16 convolution is not even as fast as the default (`screen_bf16`), bf16 is not timed on a whole
    pass: its time is estimated from the screen, which is enough to reject it.
    """
    default = "tf32" if device.type == "cuda" else "fp32"
    screen = screen_bf16(device)
    net = VGGFeatures("vgg16", deepest="relu5_1").eval().requires_grad_(False).to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, *size), generator=gen).to(device)
    out = {}
    for precision in (default, "bf16") if screen >= 1.0 else (default,):
        def one() -> None:
            xi = x.detach().requires_grad_(True)
            with autocast(device, precision):
                feats = net(xi, PROBE_LAYERS)
            sum(f.float().pow(2).mean() for f in feats.values()).backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        with precision_mode(device, precision):
            one()  # warm-up: kernel selection, allocator
            best = float("inf")
            for _ in range(runs):
                t0 = time.perf_counter()
                one()
                best = min(best, time.perf_counter() - t0)
        out[precision] = best
    if "bf16" not in out:
        out.update(bf16=out[default] / screen, screened=1.0)
    return out


def _store_path():
    return cache_dir() / PROBE_FILE


def _read_store() -> dict:
    try:
        data = json.loads(_store_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_store(data: dict) -> None:
    try:
        _store_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_store_path(), json.dumps(data, indent=1, sort_keys=True) + "\n")
    except (OSError, ImpastoError):
        pass  # an unwritable cache only costs a measurement next time


@contextmanager
def precision_mode(device: torch.device, precision: str) -> Iterator[None]:
    """TF32 matmuls and convolutions for this render only; restores the process's settings after."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    tf32 = precision in ("tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # fixed shapes for the whole render
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The network in bfloat16 for 'bf16' (Grams and losses stay fp32), a no-op otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
