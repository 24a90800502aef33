"""Reaching a Ray cluster: Ray itself (optional: `pip install 'impasto[cluster]'`), and a connection to the cluster
at an address (auto, local, or host:port / ray://host:10001) for the length of a run."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from impasto.errors import UsageError

INSTALL_HINT = "Rendering on a cluster needs Ray, which is not installed; install it with pip install 'impasto[cluster]'."


def require_ray() -> Any:
    """The `ray` module, or a UsageError saying in one sentence how to install it."""
    try:
        import ray  # optional (pip install 'impasto[cluster]') and heavy: only for --cluster
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


@contextmanager
def connect(address: str = "auto") -> Iterator[str]:
    """Connect to the Ray cluster at `address` for the duration (reusing a connection already made); yields where.

    `auto`: $RAY_ADDRESS if set, else a cluster started on this machine with `ray start --head`, else a new local
    Ray for this run. `local`: always a new local Ray. Anything else (`ray://head:10001`, `head:6379`) is passed on.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield _where(ray)
        return
    started_here = False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address == "auto" and not os.environ.get("RAY_ADDRESS"):
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:
                ray.init(address="local", include_dashboard=False, **quiet)
                started_here = True
        elif address == "auto":
            _check_reachable(os.environ["RAY_ADDRESS"])
            ray.init(**({} if os.environ["RAY_ADDRESS"].startswith("ray://") else quiet))
        elif address == "local":
            ray.init(address="local", include_dashboard=False, **quiet)
            started_here = True
        else:
            _check_reachable(address)
            ray.init(address=address, **({} if address.startswith("ray://") else quiet))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        target = os.environ.get("RAY_ADDRESS", address) if address == "auto" else address
        first = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        raise UsageError(f"Could not reach the Ray cluster at '{target}' ({first}); start one with 'ray start --head' "
                         "or check the address.") from None
    try:
        yield "a local Ray started for this run" if started_here else _where(ray)
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a cluster address (Ray retries for a long time)."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"'{address}' is not a Ray cluster address; give host:port, ray://host:10001, auto or local.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(exc.strerror or str(exc) or "no answer") from None


def _where(ray: Any) -> str:
    try:
        return f"the Ray cluster at {ray.get_runtime_context().gcs_address}"
    except Exception:  # noqa: BLE001 - only a label; Ray Client has no GCS address here
        return "the Ray cluster"


# ------------------------------------------------------------------------------------------------- workers
