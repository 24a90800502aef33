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


def validation_sentence(exc: Exception, prefix: str = "Invalid", *, whole: str = "value", missing: str | None = None,
                        extra: str | None = None) -> str:
    """A pydantic (or FastAPI request) validation error as one sentence naming the field: '<prefix> <field>: <why>.'

    `whole` names the field when the error is about the whole object; `missing` and `extra` replace pydantic's
    wording for a missing field and an unknown one.
    """
    err = exc.errors()[0]  # type: ignore[attr-defined]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc) or whole
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if err.get("type") == "missing" and missing:
        msg = missing
    elif err.get("type") == "extra_forbidden" and extra:
        msg = extra
    return f"{prefix} {where}: {msg}."
