"""impasto: film shots into paintings with neural style transfer, the way Come Swim did it."""

from .engine import Progress, Result, render, stylize
from .errors import ImpastoError, UsageError
from .look import Look

__version__ = "0.1.0"
__all__ = ["ImpastoError", "Look", "Progress", "Result", "UsageError", "render", "stylize", "__version__"]
