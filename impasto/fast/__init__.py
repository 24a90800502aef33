"""Instant u: a feed-forward painter for one style, conditioned on u (the Come Swim paper's proposed future work)."""

from .core import FastModel, load_model, style_identity
from .model import PRESETS, FastConfig, FastStyleNet
from .train import TrainProgress, TrainResult, TrainSettings, read_training_frames, train

__all__ = ["FastModel", "load_model", "style_identity", "PRESETS", "FastConfig", "FastStyleNet", "TrainSettings",
           "TrainProgress", "TrainResult", "train", "read_training_frames"]
