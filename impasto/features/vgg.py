"""VGG16/VGG19 feature extractor, defined here (no torchvision), truncated after the deepest layer in use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

# Convolutions per block; the classifier is never needed for style transfer.
BLOCKS: dict[str, tuple[int, ...]] = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
CHANNELS = (64, 128, 256, 512, 512)


def layer_names(network: str) -> list[str]:
    """Every layer of the feature stack in order: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    for block, convs in enumerate(_blocks(network), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def conv_names(network: str) -> list[str]:
    return [n for n in layer_names(network) if n.startswith("conv")]


def conv_shapes(network: str) -> dict[str, tuple[int, int, int, int]]:
    """Weight shape (out, in, 3, 3) of every convolution."""
    shapes = {}
    c_in = 3
    for block, convs in enumerate(_blocks(network), start=1):
        c_out = CHANNELS[block - 1]
        for i in range(1, convs + 1):
            shapes[f"conv{block}_{i}"] = (c_out, c_in, 3, 3)
            c_in = c_out
    return shapes


def _blocks(network: str) -> tuple[int, ...]:
    try:
        return BLOCKS[network]
    except KeyError:
        raise ValueError(f"unknown network {network!r}; choose one of {', '.join(BLOCKS)}") from None


class VGGFeatures(nn.Module):
    """The VGG convolution stack up to `deepest`; forward returns the named activations asked for."""

    def __init__(self, network: str, deepest: str = "pool5", pooling: str = "max") -> None:
        super().__init__()
        names = layer_names(network)
        if deepest not in names:
            raise ValueError(f"{network} has no layer {deepest!r}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.network = network
        shapes = conv_shapes(network)
        layers: dict[str, nn.Module] = {}
        for name in names[: names.index(deepest) + 1]:
            if name.startswith("conv"):
                c_out, c_in, _, _ = shapes[name]
                layers[name] = nn.Conv2d(c_in, c_out, 3, padding=1)
            elif name.startswith("relu"):
                layers[name] = nn.ReLU(inplace=False)
            else:
                layers[name] = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
        self.layers = nn.ModuleDict(layers)

    def load_convs(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Load `<conv>.weight` / `<conv>.bias` tensors for the convolutions this stack holds."""
        for name, module in self.layers.items():
            if isinstance(module, nn.Conv2d):
                module.weight.data.copy_(weights[f"{name}.weight"])
                module.bias.data.copy_(weights[f"{name}.bias"])

    def forward(self, x: torch.Tensor, wanted: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(wanted)
        out: dict[str, torch.Tensor] = {}
        for name, module in self.layers.items():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
