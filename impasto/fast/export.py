"""A fast model as ONNX, for use outside Python: inputs `image` (1×3×H×W RGB 0-1, H and W multiples of 4) and
`u` (N values inside the trained range), output `painted` (N×3×H×W RGB 0-1)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from impasto.errors import ImpastoError, UsageError
from impasto.fast.core import FastModel
from impasto.fast.model import FastStyleNet
from impasto.files import atomic_path

OPSET = 17
TOLERANCE = 1e-4  # max abs difference (0-1 pixels) between onnxruntime and torch


class _WithU(nn.Module):
    """The network taking u itself: the trained range is baked into the graph."""

    def __init__(self, net: FastStyleNet, u_range: tuple[float, float]) -> None:
        super().__init__()
        self.net = net
        self.lo, self.span = float(u_range[0]), float(max(u_range[1] - u_range[0], 1e-6))

    def forward(self, image: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.net(image, (u - self.lo) / self.span)


@dataclass
class ExportReport:
    path: Path
    max_difference: float  # onnxruntime vs torch on a test frame, in 0-1 pixel units
    checked_size: tuple[int, int]


def export_onnx(model: FastModel, path: str | os.PathLike, *, check: bool = True, opset: int = OPSET) -> ExportReport:
    """Write the model as ONNX (atomically) and check onnxruntime paints a test frame as torch does."""
    path = Path(path)
    wrapper = _WithU(model.net.cpu().eval(), model.u_range).eval()
    lo, hi = model.u_range
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 96, generator=gen)
    us = torch.tensor([lo, (lo + hi) / 2, hi], dtype=torch.float32)
    with atomic_path(path, error=UsageError) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on constant folding and instance norm modes
            torch.onnx.export(
                wrapper, (image, us), str(tmp), input_names=["image", "u"], output_names=["painted"],
                dynamic_axes={"image": {2: "height", 3: "width"}, "u": {0: "n"}, "painted": {0: "n", 2: "height", 3: "width"}},
                opset_version=opset, dynamo=False,
            )
        diff = float("nan")
        if check:
            # A size and a u count other than the traced ones: the graph must really be dynamic.
            test = torch.rand(1, 3, 72, 52, generator=gen)
            test_u = torch.tensor([lo, lo + 0.37 * (hi - lo), hi, (lo + hi) / 2], dtype=torch.float32)
            diff = check_onnx(tmp, wrapper, test, test_u)
            if not diff <= TOLERANCE:
                raise ImpastoError(f"The ONNX export paints differently from torch (max difference {diff:.2e}); not written.")
    return ExportReport(path, diff, (72, 52))


def check_onnx(path: str | os.PathLike, wrapper: nn.Module, image: torch.Tensor, us: torch.Tensor) -> float:
    """Max abs difference between onnxruntime and torch on one input."""
    import onnxruntime as ort  # deferred: optional (not a dependency), wanted only to check an export

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["painted"], {"image": image.numpy(), "u": us.numpy()})[0]
    with torch.no_grad():
        want = wrapper(image, us).numpy()
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max())
