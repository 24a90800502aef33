"""Instant u: a feed-forward painter for one style, conditioned on u (the Come Swim paper's proposed future work)."""

from impasto.fast.core import FastModel, load_model, style_identity
from impasto.fast.model import PRESETS, FastConfig, FastStyleNet
from impasto.fast.train import (
           TrainProgress,
           TrainResult,
           TrainSettings,
           read_training_frames,
           train,
)

__all__ = [
           "PRESETS",
           "FastConfig",
           "FastModel",
           "FastStyleNet",
           "TrainProgress",
           "TrainResult",
           "TrainSettings",
           "load_model",
           "read_training_frames",
           "style_identity",
           "train",
]
