"""Progress of an optimisation: one record per accepted iteration, and the one bookkeeping every strategy shares."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from impasto.progress import Progress  # the iteration scope of the one progress model
from impasto.threads import rebalance

ProgressCallback = Callable[[Progress], None]


class Recorder:
    """Turns the solver's reports ([objective, total, *groups] tensors) into Progress records.

    On CUDA it reads the values back every few iterations only. `iterations` is the count the user asked for;
    `spread` runs several solves (tiles) through one count, so a bar sized by the look still fits.
    """

    def __init__(self, iterations: int, device: torch.device, progress: ProgressCallback | None,
                 groups: Sequence[str] = ("content", "style", "tv"), *, start: float | None = None,
                 every: int | None = None) -> None:
        self.iterations, self.progress = iterations, progress
        self.start = time.perf_counter() if start is None else start
        self.groups = list(groups)
        self.every = every or (16 if device.type == "cuda" else 1)
        self.history: list[Progress] = []
        self.pending: list[tuple[int, torch.Tensor, float]] = []
        self.shown = 0

    def add(self, i: int, terms: torch.Tensor) -> None:
        self.pending.append((i, terms, time.perf_counter() - self.start))
        if len(self.pending) >= self.every or i == self.iterations:
            self.flush()

    def add_spread(self, part: int, parts: int, i: int, terms: torch.Tensor) -> None:
        """Iteration `i` of solve `part` out of `parts`, each running the full count: shown as one pass."""
        at = max(1, round((part * self.iterations + i) / parts))
        if at > self.shown:
            self.shown = at
            self.add(at, terms)

    def extend(self, records: Sequence[Progress]) -> None:
        """Records of an earlier pass (a tiled render's whole-frame start), counted against this one's iterations."""
        for p in records:
            p.total = self.iterations
        self.history.extend(records)

    def flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack([t for _, t, _ in self.pending]).tolist()
        for (i, _, elapsed), row in zip(self.pending, values):
            named = dict(zip(self.groups, row[2:]))
            info = Progress(done=i, total=self.iterations, loss=row[1], elapsed=elapsed, terms=named)
            self.history.append(info)
            if self.progress is not None:
                self.progress(info)
        self.pending.clear()
        rebalance()  # between iterations: this process's share of the cores, as other painters come and go
