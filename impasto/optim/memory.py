"""Memory plans: how much a render needs, whether it fits, and the tile size when it does not."""

from __future__ import annotations

import torch

from impasto.devices import available_memory
from impasto.errors import UsageError
from impasto.features.precision import resolve_precision
from impasto.features.vgg import conv_shapes, layer_names
from impasto.look import Look
from impasto.optim.solve import LBFGS_HISTORY


def estimate_memory(height: int, width: int, network: str = "vgg16", optimizer: str = "lbfgs", *,
                    precision: str = "fp32") -> int:
    """Rough peak bytes for optimising an H×W image: weights, activations kept for backward, optimiser state.

    Fitted to measured CPU peaks (RSS, L-BFGS): 1024×768 VGG16 2557 MiB (estimate 2535); at 512×384 and 256×192
    VGG19, 1134 and 662 MiB (estimates 946 and 519: the process's own ~360 MiB weighs more there).
    Backward keeps each ReLU's output and each pooling's, plus transient gradients (the 1.4).
    """
    names = layer_names(network)
    deepest = names.index("relu5_1")
    shapes = conv_shapes(network)
    floats, h, w, c = 0, height, width, 3
    for name in names[: deepest + 1]:
        if name.startswith("conv"):
            c = shapes[name][0]
            floats += c * h * w  # the ReLU output after it, saved for backward
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
            floats += c * h * w
    params = sum(o * i * 9 + o for o, i, _, _ in shapes.values())
    pixels = 3 * height * width
    state = 2 * LBFGS_HISTORY * pixels + 4 * pixels if optimizer == "lbfgs" else 4 * pixels
    act_bytes = 2 if precision == "bf16" else 4
    return int(act_bytes * 1.4 * floats + 4 * (params + state)) + 300 * 2**20  # torch and the process itself


def check_fits(height: int, width: int, look: Look, device: torch.device) -> None:
    """A one-sentence UsageError if an H×W render of `look` will not fit on `device`."""
    need = estimate_memory(height, width, look.network, look.optimizer,
                           precision=resolve_precision(look.precision, device))
    free = available_memory(device)
    if free is not None and need > free:
        raise UsageError(
            f"A {width}×{height} render needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
            f"is available on {device.type}; use a smaller --size or --max-memory."
        )


def plan_tile(h: int, w: int, look: Look, dev: torch.device) -> int:
    """Tile long edge for an H×W render, 0 for the whole image at once; a one-sentence error if nothing fits."""
    if look.tile and look.tile < max(h, w):
        return max(look.tile, look.tile_overlap + 16)
    precision = resolve_precision(look.precision, dev)
    need = estimate_memory(h, w, look.network, look.optimizer, precision=precision)
    free = available_memory(dev)
    if free is None or need <= free:
        return 0
    tile = max(h, w)
    while tile > 256:
        tile = int(tile * 0.8)
        if estimate_memory(tile, tile, look.network, look.optimizer, precision=precision) <= free * 0.9:
            return max(tile, look.tile_overlap + 16)
    raise UsageError(
        f"A {w}×{h} render needs about {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
        f"is available on {dev.type}, too little even for tiles; use a smaller --size."
    )
