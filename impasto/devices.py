"""Devices and the memory a render may use on them."""

from __future__ import annotations

import math
import os

import torch

from impasto.errors import UsageError

MAX_MEMORY_ENV = "IMPASTO_MAX_MEMORY"
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"Unknown device '{name}': use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UsageError(f"Device '{name}' is not available on this machine; use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"Device '{name}' is not available on this machine; use --device cpu.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"Unknown device '{name}': use auto, cpu, cuda, cuda:N or mps.")
    return device


def parse_bytes(text: str) -> int:
    """'16G', '16GiB', '1500M' or a plain byte count, as bytes; a one-sentence UsageError otherwise."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in _UNITS else (t, "")
    try:
        value = float(num) * _UNITS[unit]
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"'{text}' is not a memory size; write it like 16G, 1500M or 24GiB.")
    return int(value)


def memory_cap() -> int | None:
    """The user's ceiling on memory for a render (--max-memory, or $IMPASTO_MAX_MEMORY), if any."""
    text = os.environ.get(MAX_MEMORY_ENV, "").strip()
    return parse_bytes(text) if text else None


def available_memory(device: torch.device) -> int | None:
    """Bytes a render may use on `device`: what is free, lowered to the user's cap if one is set."""
    free = _free_memory(device)
    cap = memory_cap()
    if cap is None:
        return free
    return cap if free is None else min(free, cap)


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None
