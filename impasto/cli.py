"""`impasto` on the command line: the app with every command registered."""

from __future__ import annotations

from .commands import stylize  # noqa: F401  (each module registers its commands on `app`)
from .commands.common import app

__all__ = ["app"]
