"""Numeric precision of the feature network: fp32, TF32 (CUDA) or bfloat16 autocast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_precision(precision: str, device: torch.device) -> str:
    """What 'auto' means on a device: TF32 on CUDA, fp32 elsewhere; tf32 is fp32 off CUDA.

    bf16 is never chosen automatically: on the 2-core AVX512-BF16 CPU it measured slower than fp32, and it is
    unverified on GPUs (see bench/README.md).
    """
    if precision == "auto":
        return "tf32" if device.type == "cuda" else "fp32"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


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
