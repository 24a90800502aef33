"""The look-development painter of a sweep, learned in the studio's background (`impasto.fast.learn`).

A finished sweep holds the look's paintings of one frame across u; `learn` fits a small network to them, and the
u slider then drags paint through it in milliseconds (`/api/fast-preview.png`), labelled as the learned painter,
while letting go still renders the real look. One painter learns at a time, on its own thread beside the preview
worker, with the settings the studio was made with (`LearnSettings()` unless `create_app(learn=...)` says
otherwise). The painter is written beside the sweep (`painter.pt`, or `painter-<style>.pt` for a sweep of several
styles) by learn's own atomic save; Cancel stops it at the next step with its checkpoint (`painter.pt.ckpt`) kept,
so the next start resumes. Nothing is written half.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from impasto.errors import ImpastoError, UsageError
from impasto.fast.learn import LearnSettings, learn, u_range_of
from impasto.fast.sweeps import SweepPaintings, sweep_paintings
from impasto.fast.train import checkpoint_path
from impasto.look import load_look
from impasto.lookdev.sweep import read_manifest
from impasto.progress import TrainProgress
from impasto.studio.jobs import FINISHED, Cancelled, QueuedJob, WorkerQueue
from impasto.studio.paths import relative_name

PAINTER_FILE = "painter.pt"
MAX_STEPS = 100_000  # the most steps one start may ask for
JOBS_KEPT = 50  # finished learning jobs remembered


def sweep_styles(folder: Path) -> list[str]:
    """The style images a sweep folder's cells were painted with (as its manifest names them), sorted."""
    cells = read_manifest(folder).get("cells") or {}
    return sorted({str(c.get("style")) for c in cells.values() if isinstance(c, dict)})


def painter_file(folder: Path, style: str | None = None) -> Path:
    """Where the painter of a sweep is written: `painter.pt` beside its cells, or `painter-<style stem>.pt` when the
    sweep holds several styles and `style` names one of them."""
    if style is None or len(sweep_styles(folder)) < 2:
        return folder / PAINTER_FILE
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(style).stem).strip("._") or "style"
    return folder / f"painter-{stem}.pt"


@dataclass(eq=False)
class PainterJob(QueuedJob):
    """One learning run: a sweep's paintings, the model file it writes, and where it stands (what the page sees)."""

    sweep: str  # the sweep folder, relative to the project folder
    model: str  # the painter file, relative to the project folder
    output: Path
    paintings: SweepPaintings | None  # dropped once learned: the pictures are not kept in memory
    settings: LearnSettings
    cells: int = 0
    u_range: tuple[float, float] | None = None
    fresh: bool = False
    style: str | None = None
    step: int = 0
    steps: int = 0
    resumed_from: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    eta: float | None = None

    def info(self) -> dict:
        """The job as the page sees it (JSON): steps done of the planned steps, loss, seconds so far and left."""
        return {
            "id": self.id, "sweep": self.sweep, "model": self.model, "style": self.style, "state": self.state,
            "step": self.step, "steps": self.steps, "resumed_from": self.resumed_from, "loss": self.loss,
            "elapsed": round(self.elapsed, 3), "eta": None if self.eta is None else round(self.eta, 1),
            "error": self.error, "version": self.version, "checkpoint": checkpoint_path(self.output).is_file(),
            "ready": self.output.is_file(), "cells": self.cells,
            "u_range": list(self.u_range) if self.u_range else None,
        }


class PainterQueue(WorkerQueue[PainterJob]):
    """Learning jobs of the project folder `root`, run one at a time by a background thread (oldest first).

    A start for a painter already queued or learning answers that job; `cancel` drops a queued job and stops a
    running one at its next step (learn keeps its checkpoint); `close` does so for all and waits for the thread."""

    what = "Learning the painter"

    def __init__(self, root: Path, device: str, settings: LearnSettings | None = None) -> None:
        self.root = Path(root).resolve()
        base = settings or LearnSettings()
        self.settings = dataclasses.replace(base, device=device) if base.device == "auto" else base
        super().__init__("impasto-studio-painter", join_seconds=60)

    # ---------------------------------------------------------------------------------------- the API
    def start(self, folder: Path, *, style: str | None = None, steps: int | None = None,
              fresh: bool = False) -> PainterJob:
        """Queue learning the painter of the sweep `folder` (inside the project); one sentence when it cannot be."""
        folder = Path(folder).resolve()
        rel = relative_name(self.root, folder)
        styles = sweep_styles(folder)
        if style is None and len(styles) > 1:
            raise UsageError(f"Sweep '{rel}' holds {len(styles)} styles ({', '.join(Path(s).name for s in styles)}); "
                             "pick the one its painter learns.")
        output = painter_file(folder, style)
        with self._cond:
            running = self._unfinished(output)
        if running is not None:
            return running
        settings = self.settings if steps is None else dataclasses.replace(self.settings, steps=int(steps))
        settings.check()
        self._check_inside(folder, rel)
        try:
            found = sweep_paintings(folder, style=style)
        except UsageError as exc:
            raise UsageError(self._as_page_says(str(exc).replace(str(folder), rel))) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a sweep.json not written by impasto sweep
            raise UsageError(f"Sweep '{rel}' has a damaged sweep.json ({type(exc).__name__}: {exc}); run impasto sweep "
                             "again to rewrite it.") from None
        with self._cond:
            running = self._unfinished(output)
            if running is not None:
                return running
            job = PainterJob(id=self._next_id("p"), sweep=rel, model=relative_name(self.root, output), output=output,
                             paintings=found, settings=settings, fresh=fresh, style=style, steps=settings.steps,
                             cells=len(found.examples), u_range=u_range_of(found.examples))
            self._add_locked(job)
            self._forget_old()
            return job

    def latest(self, output: Path) -> PainterJob | None:
        """The newest job that writes `output` (any state), or None."""
        with self._cond:
            mine = [j for j in self._jobs.values() if j.output == output]
            return mine[-1] if mine else None

    # ---------------------------------------------------------------------------------------- internals
    def _unfinished(self, output: Path) -> PainterJob | None:
        return next((j for j in self._jobs.values() if j.output == output and j.state not in FINISHED), None)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in FINISHED]
        for job in finished[: max(0, len(finished) - JOBS_KEPT)]:
            del self._jobs[job.id]

    def _check_inside(self, folder: Path, rel: str) -> None:
        """Every frame and style image the sweep's cells name lies inside the project folder (the studio reads
        nothing outside it)."""
        for cell in (read_manifest(folder).get("cells") or {}).values():
            look_file = folder / str(cell.get("look", "")) if isinstance(cell, dict) else folder
            if not look_file.is_file():
                continue  # sweep_paintings says so in its own sentence
            lf = load_look(look_file)
            for p in [lf.content, *lf.styles]:
                if p and not (look_file.parent / str(p)).resolve().is_relative_to(self.root):
                    raise UsageError(f"Sweep '{rel}' was painted from '{Path(str(p)).name}', which lies outside the "
                                     "project folder; the studio learns only from files inside it.")

    def _as_page_says(self, message: str) -> str:
        """A core sentence in the page's words: paths relative to the project folder, the page's buttons for the
        command line's options."""
        return (message.replace(f"{self.root}/", "").replace(" with --style", "")
                .replace("pass --fresh to start over", "press Start over to learn it from scratch"))

    def _sentence(self, exc: ImpastoError) -> str:
        """Learn's sentence in the page's words."""
        return self._as_page_says(str(exc))

    def _stopped(self, job: PainterJob, **changes: object) -> None:
        """A cancelled or failed run has no time left (its checkpoint, when learn saved one, stays)."""
        self._update(job, eta=None, **changes)

    def _work(self, job: PainterJob) -> None:
        """Learn the painter (a cancel stops learn at its next step, which saves its checkpoint first)."""
        found, job.paintings = job.paintings, None
        assert found is not None

        def progress(p: TrainProgress) -> None:
            self._update(job, step=p.done, steps=p.total, resumed_from=p.resumed_from, loss=p.loss, elapsed=p.elapsed,
                         eta=p.remaining())
            if job.cancel_event.is_set():
                raise KeyboardInterrupt  # learn saves its checkpoint (at this step) and re-raises

        try:
            result = learn(found.look, found.style_rgbs, found.examples, job.output, job.settings,
                           style_paths=found.style_paths, sources=found.sources(), resume=not job.fresh,
                           progress=progress)
        except KeyboardInterrupt:
            raise Cancelled() from None
        self._update(job, state="done", step=result.steps, resumed_from=result.resumed_from, eta=0.0,
                     elapsed=result.seconds, loss=None if result.last != result.last else result.last)


__all__ = ["PAINTER_FILE", "PainterJob", "PainterQueue", "painter_file", "sweep_styles"]
