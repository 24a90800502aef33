"""What machine a benchmark ran on, said the same way by every script under bench/: the CPU's model name, its
core count and the instruction sets that decide which precision is fast (AVX2, AVX-512, AVX512-BF16, AMX)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # impasto from this checkout
from impasto.features.precision import cpu_model  # noqa: E402

KEY_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_name() -> str:
    """The CPU's model name (impasto's own, as precision choices record it)."""
    return cpu_model()


def cpu_flags() -> list[str]:
    """Which of AVX2, AVX-512F, AVX512-BF16 and AMX-BF16 the CPU has (empty where /proc/cpuinfo says nothing)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return []
    return [k for k in KEY_FLAGS if k in flags]


def describe() -> str:
    """One line naming the CPU for a table: 'Intel(R) Xeon(R) Processor, 2 CPUs, avx2 avx512f avx512_bf16'."""
    flags = " ".join(cpu_flags())
    return f"{cpu_name()}, {os.cpu_count()} CPUs" + (f", {flags}" if flags else "")
