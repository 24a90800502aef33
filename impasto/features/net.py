"""The feature network: a truncated VGG with its weights' preprocessing, on one device, frozen."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import torch

from impasto.features.vgg import VGGFeatures
from impasto.features.weights import CAFFE, load_weights

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
DEEPEST = "relu5_1"  # the deepest layer any objective term reads: the network stops there
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FeatureNet:
    """A truncated VGG with its weights' preprocessing, on one device, frozen."""

    def __init__(self, network: str, weights: str | None, pooling: str, device: torch.device,
                 deepest: str = DEEPEST) -> None:
        w = load_weights(network, weights)
        self.model = VGGFeatures(network, deepest=deepest, pooling=pooling)
        self.model.load_convs(w.tensors)
        # channels_last on CUDA: cuDNN runs NHWC convolutions fastest (tensor cores), and the Gram is then a plain
        # matmul on the H·W×C view. On the CPU it measured the same speed as NCHW (0.61 s either way, VGG19 fwd+bwd
        # at 256×192, one thread), so CPU renders stay NCHW and bit-identical to earlier versions.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model.eval().requires_grad_(False).to(device).to(memory_format=self.memory_format)
        self.origin = w.origin
        self.preprocessing = w.preprocessing
        self.device = device
        self.key = (network, weights, pooling, str(device))  # what its outputs depend on, for caches
        self.compiled = False

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in 0-1 (1×3×H×W) to what these weights were trained on."""
        if self.preprocessing == CAFFE:
            mean = torch.tensor(CAFFE_MEAN_BGR, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
            return rgb.flip(1) * 255.0 - mean
        mean = torch.tensor(IMAGENET_MEAN, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        return (rgb - mean) / std

    def __call__(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        return self.model(self.preprocess(rgb).contiguous(memory_format=self.memory_format), layers)

    def compile(self) -> None:
        """torch.compile the network's forward once (CUDA; slow to start, fixed shapes)."""
        if not self.compiled:
            self.model.forward = torch.compile(self.model.forward, dynamic=False)
            self.compiled = True


@lru_cache(maxsize=4)
def feature_net(network: str, weights: str | None, pooling: str, device: str) -> FeatureNet:
    """One network per (network, weights, pooling, device) per process: shots and sweeps reuse it."""
    return FeatureNet(network, weights, pooling, torch.device(device))
