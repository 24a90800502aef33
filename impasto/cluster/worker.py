"""What runs on the cluster's workers: a Ray actor that keeps one `ShotRenderer` for its life and paints the
planner's units through the one frame loop (`impasto.shot.loop.run_unit`), and the box workers post events to."""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from dataclasses import replace
from typing import Any

import torch

from impasto.errors import ImpastoError, UsageError
from impasto.shot.config import Shot
from impasto.shot.loop import run_unit
from impasto.shot.manifest import FrameEntry
from impasto.shot.plan import Unit
from impasto.shot.render import ShotRenderer
from impasto.version import __version__


class WorkerMismatch(UsageError):
    """A worker would paint the shot differently from the driver (other impasto, OCIO config or style files)."""


class FrameWorker:
    """A Ray actor: one process that keeps one ShotRenderer (network, style targets) and paints chunks with it."""

    def __init__(self, shot: Shot, device: str, threads: int, index: int, driver: tuple[str, str], progress: str,
                 from_previous: bool | None = None) -> None:
        import ray  # optional: a worker runs inside Ray, so it is there

        self.shot, self.device, self.threads, self.from_previous = shot, device, threads, from_previous
        self.driver_version, self.driver_look_hash = driver
        # Looked up by name rather than passed as a handle: a restarted actor's arguments must be plain values.
        try:
            self.progress = ray.get_actor(progress)
        except ValueError:
            self.progress = None
        self.label = f"{socket.gethostname()}/w{index}"
        self.renderer: ShotRenderer | None = None
        self._ray = ray
        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        self._post({"kind": "ready", "pid": os.getpid()})

    def _post(self, event: dict[str, Any]) -> None:
        if self.progress is None:
            return
        with suppress(Exception):  # progress is display only; never lose a frame over it
            self.progress.put.remote({**event, "worker": self.label})

    def _setup(self) -> ShotRenderer:
        if self.renderer is None:
            if __version__ != self.driver_version:
                raise WorkerMismatch(f"Worker {self.label} runs impasto {__version__} but the driver runs {self.driver_version}; "
                                 "install the same impasto on every node.")
            renderer = ShotRenderer(self.shot, device=self.device, from_previous=self.from_previous)
            if renderer.look_hash != self.driver_look_hash:
                # Same look, different painting: another OCIO config ($OCIO), other style files or other code.
                renderer.close()
                raise WorkerMismatch(f"Worker {self.label} resolves the shot's look to {renderer.look_hash}, not the driver's "
                                 f"{self.driver_look_hash}; give every node the same impasto, $OCIO and style files.")
            self.renderer = renderer
        return self.renderer

    def render_chunk(self, unit: Unit, run_started: float, force: bool) -> dict[str, Any]:
        """Paint the frames of a unit not finished yet, through the one frame loop (impasto.shot.loop.run_unit);
        each frame's manifest entry (as a dict) and the skipped frames."""
        ctx = self._ray.get_runtime_context()
        out: dict[str, Any] = {"worker": self.label, "entries": {}, "skipped": [], "pid": os.getpid()}
        try:
            r = self._setup()
            plan = r.plan(list(unit.frames), force=force)
            manifest = r.manifest()
        except ImpastoError as exc:
            out["setup_error"], out["own_sentence"] = str(exc), isinstance(exc, WorkerMismatch)
            return out
        todo = []
        for n in unit.frames:
            entry = manifest.frames.get(n)
            if entry is not None and entry.finished >= run_started:
                out["entries"][n] = entry.model_dump(mode="json")  # an earlier attempt of this run finished it
            elif n not in plan.todo:
                out["skipped"].append(n)
            else:
                todo.append(n)

        def on_iteration(n: int, i: int, its: int) -> None:
            if ctx.is_canceled():
                raise KeyboardInterrupt  # render_frame drops the frame before writing anything

        def on_frame(n: int, entry: FrameEntry | None, why: str | None) -> None:
            if entry is None:
                out["skipped"].append(n)
            else:
                out["entries"][n] = entry.model_dump(mode="json")
                self._post({"kind": entry.status, "frame": n, "seconds": entry.seconds, "error": entry.error,
                            "loss": entry.loss})
            if ctx.is_canceled():
                raise KeyboardInterrupt

        try:
            if todo and ctx.is_canceled():
                raise KeyboardInterrupt
            # A lock of this run is a lost worker's, whose unit the driver gave back (impasto.shot.locks).
            run_unit(r, replace(unit, frames=tuple(todo)), run_started, run=f"ray:{run_started!r}",
                     on_start=lambda n: self._post({"kind": "start", "frame": n}), on_iteration=on_iteration,
                     on_frame=on_frame)
        except KeyboardInterrupt:
            out["cancelled"] = True
        return out


class ProgressBox:
    """A Ray actor the workers post events to and the driver drains."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def take(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events
