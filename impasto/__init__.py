"""impasto: film shots into paintings with neural style transfer, the way Come Swim did it."""

from impasto.api import Progress, Result, evaluate_loss, render, stylize
from impasto.errors import ImpastoError, UsageError
from impasto.look import Look
from impasto.version import __version__

__all__ = ["ImpastoError", "Look", "Progress", "Result", "UsageError", "evaluate_loss", "render", "stylize", "__version__"]
