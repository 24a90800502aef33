"""Images between NumPy (H×W×3 RGB in 0-1) and torch (1×3×H×W), and their sizes."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from impasto.errors import UsageError
from impasto.io.images import read_image, to_rgb
from impasto.io.sequence import DEFAULT_FIRST_FRAME, is_movie, read_movie_frame, split_movie_frame

ImageLike = str | os.PathLike | np.ndarray


def load_rgb(image: ImageLike, what: str) -> np.ndarray:
    """A path or an array as float32 H×W×3 RGB in 0-1; `what` names it in the error sentence.

    A movie frame is `clip.mov@1040`: the frame number in the movie's numbering, whose first picture is 1001
    (`clip.mov@1001`); numbers below 1001, such as a raw index @0, are refused with a sentence saying so.
    """
    if isinstance(image, np.ndarray):
        return to_rgb(image, source=f"{what} array")
    if isinstance(image, (str, os.PathLike)):
        ref = split_movie_frame(image)
        if ref is not None:
            return to_rgb(read_movie_frame(ref[0], ref[1], DEFAULT_FIRST_FRAME), source=f"{what} '{image}'")
        if is_movie(image):
            raise UsageError(f"The {what} '{image}' is a movie; name one of its frames, like '{image}@{DEFAULT_FIRST_FRAME}' "
                             f"(a movie's frames are numbered from {DEFAULT_FIRST_FRAME}).")
        return read_image(image)
    raise UsageError(f"The {what} must be a path or an H×W×3 array, not {type(image).__name__}.")


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).to(device, torch.float32).contiguous()


def to_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().squeeze(0).permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32)


def fit_size(height: int, width: int, long_edge: int) -> tuple[int, int]:
    """(h, w) scaled so the longer side is `long_edge`, aspect kept."""
    scale = long_edge / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic with antialiasing (how an image viewer scales a picture), clamped to 0-1."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
