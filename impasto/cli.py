"""`impasto` on the command line: the app, with every module under commands/ registering its commands."""

from __future__ import annotations

import importlib
import pkgutil

from impasto import commands
from impasto.commands.common import app

for _mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
    if _mod != "common":
        importlib.import_module(f"{commands.__name__}.{_mod}")

__all__ = ["app"]
