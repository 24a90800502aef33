"""Is bfloat16 worth it on this CPU? One VGG-sized convolution in fp32 and bf16, as GFLOP/s (issue 7, part 2).

A 3×3, 256→256-channel convolution at 128×96 (VGG's conv3 block at 512×384), forward and input-gradient, in
fp32 and bf16, NCHW and channels_last; best of several runs. Also a whole VGG16 forward+backward to relu5_1 at
512×384 in fp32 and under bf16 autocast, which is what one iteration costs. Prints the CPU's bf16/AMX flags.
On the 2-core AVX512-BF16 sandbox (no AMX) fp32 ran at about 425 GFLOP/s (the FMA peak) and bf16 at half that,
which is why `--precision auto` keeps fp32 on CPUs.

    python bench/cpu_kernels.py [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impasto.features.vgg import VGGFeatures

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx") or f == "avx512f")


def best(fn, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def conv_rate(dtype: torch.dtype, channels_last: bool) -> tuple[float, float]:
    """(forward, input-gradient) GFLOP/s of one 3×3 256→256 convolution at 128×96."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(dtype).requires_grad_(False)
    x = torch.rand(1, 256, 96, 128, dtype=dtype)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    flops = 2 * 256 * 256 * 9 * 96 * 128
    y = conv(x)
    grad = torch.ones_like(y)
    fwd = best(lambda: conv(x))
    bwd = best(lambda: torch.autograd.grad(conv(x), x, grad)) - fwd
    return flops / fwd / 1e9, flops / max(bwd, 1e-9) / 1e9


def vgg_pass(bf16: bool) -> float:
    """Seconds for one VGG16 forward+backward (to the image) at 512×384."""
    net = VGGFeatures("vgg16", "relu5_1").eval().requires_grad_(False)
    x = torch.rand(1, 3, 384, 512)

    def run() -> None:
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            feats = net(xi, LAYERS)
        sum((f.float() ** 2).mean() for f in feats.values()).backward()

    return best(run, runs=3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, flags: {' '.join(cpu_flags()) or '-'}")
    for dtype in (torch.float32, torch.bfloat16):
        for cl in (False, True):
            fwd, bwd = conv_rate(dtype, cl)
            print(f"  conv 3x3 256->256 at 128x96, {str(dtype)[6:]:8s} {'channels_last' if cl else 'NCHW':13s}: "
                  f"forward {fwd:6.0f} GFLOP/s, input gradient {bwd:6.0f} GFLOP/s")
    fp32, bf16 = vgg_pass(False), vgg_pass(True)
    print(f"  VGG16 forward+backward at 512x384: fp32 {fp32:.3f} s, bf16 autocast {bf16:.3f} s (bf16/fp32 {bf16 / fp32:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
