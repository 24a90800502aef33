"""The bundled demo: a scikit-image sample photo painted in the style of a bundled public-domain painting."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from impasto.io.tensors import resize, to_array, to_tensor

DEMO_PAINTING = "starry_night.jpg"  # Vincent van Gogh, The Starry Night (1889), public domain; 768 px


def demo_style_path() -> Path:
    return Path(str(resources.files("impasto") / "data" / DEMO_PAINTING))


def demo_content() -> np.ndarray:
    """NASA's public-domain portrait of astronaut Eileen Collins, bundled with scikit-image."""
    from skimage import data  # deferred: scikit-image is slow to import and only the demo wants it here

    return data.astronaut().astype(np.float32) / 255.0


def before_after(before: np.ndarray, after: np.ndarray, gap: int = 8) -> np.ndarray:
    """`before` scaled to the height of `after`, then both side by side on white."""
    h = after.shape[0]
    w = round(before.shape[1] * h / before.shape[0])
    scaled = to_array(resize(to_tensor(before, torch.device("cpu")), (h, w)))
    out = np.ones((h, w + gap + after.shape[1], 3), np.float32)
    out[:, :w] = scaled
    out[:, w + gap :] = after
    return out
