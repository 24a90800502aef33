"""impasto: film shots into paintings with neural style transfer, the way Come Swim did it."""

from impasto.api import Guides, Progress, Region, Result, Temporal, evaluate_loss, render, stylize
from impasto.errors import ImpastoError, UsageError
from impasto.look import Look
from impasto.version import __version__

__all__ = ["Guides", "ImpastoError", "Look", "Progress", "Region", "Result", "Temporal", "UsageError", "evaluate_loss", "render", "stylize", "__version__"]
