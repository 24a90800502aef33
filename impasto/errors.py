"""Errors a user can cause (exit 2) and failures during a run (exit 1)."""

from __future__ import annotations


class ImpastoError(Exception):
    """A problem with a clear one-sentence message; the CLI prints it and exits."""

    exit_code = 1


class UsageError(ImpastoError):
    """Bad input or usage: missing file, unreadable image, bad option value."""

    exit_code = 2


class WeightsNotFound(UsageError):
    """No VGG weights could be found anywhere impasto looks."""


class OutOfMemory(ImpastoError):
    """The job will not fit, or ran out of memory while running."""

    exit_code = 1
