"""Gatys et al. losses, normalised as fzliu/style-transfer (the engine Come Swim used)."""

from __future__ import annotations

import torch

CONTENT_LAYERS = {"relu4_2": 1.0}
STYLE_LAYERS = {"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}


def gram(features: torch.Tensor) -> torch.Tensor:
    """Unnormalised Gram matrix F·Fᵀ (C×C) of one image's features (1×C×H×W), in fp32."""
    _, c, h, w = features.shape
    if not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last):
        # channels_last is H·W×C in memory: the Gram is FᵀF on that view, no copy.
        f = features.permute(0, 2, 3, 1).reshape(h * w, c).float()
        return f.T @ f
    f = features.reshape(c, h * w).float()
    return f @ f.T


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """‖G − A‖² / (4 N² M²) with N channels and M = H·W positions."""
    _, n, h, w = features.shape
    m = h * w
    return (gram(features) - target_gram).pow(2).sum() / (4.0 * n * n * m * m)


def content_layer_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ ‖F − P‖²."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (sum of squared neighbour differences) of a 1×3×H×W image in 0-1."""
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    return dx.pow(2).sum() + dy.pow(2).sum()
