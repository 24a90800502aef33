"""One frame of a shot, start to record: the one frame pipeline.

start (the look's init, the previous written frame, or boil's warped start and temporal guides) -> the `Painter`
at the paint size -> upscale back to the plate's size and denoise (the paper's band-pass) -> back to the plate's
colour space -> dissolve with the plate in linear light -> the plate's alpha -> written under a temporary name and
renamed -> a manifest entry. `FramePipeline` keeps its painter (network, style targets) across frames; a failing
frame is recorded and returned, a full disk raises `DiskFull`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from impasto.errors import ImpastoError, UsageError
from impasto.files import disk_full
from impasto.io.frames import Frame, premultiply, read_frame, write_frame
from impasto.io.images import read_image, write_image
from impasto.io.tensors import fit_size
from impasto.motion.flow import fit
from impasto.objective.guides import Guides
from impasto.optim.solve import Converged
from impasto.objective.regions import load_regions
from impasto.shot.config import Shot, with_overrides
from impasto.shot.identity import look_hash, matte_hashes, settled_temporal
from impasto.shot.learned import LearnsFromKeyframes, Trainer
from impasto.shot.manifest import DiskFull, FrameEntry, Manifest, update_manifest
from impasto.shot.painter import GatysPainter, Painted, Painter
from impasto.shot.post import denoise, mix, upscale
from impasto.shot.source import PlateSource
from impasto.shot.temporal import Boil, Start, load_painted, painted_path, save_painted
from impasto.version import __version__


class FramePipeline(LearnsFromKeyframes, PlateSource):
    """Paints, writes and records frames of one shot version with one `Painter`, kept (network, style targets)
    between frames.

    The painter defaults to the optimisation (`GatysPainter`) with the shot's look; a fast model's painter can be
    given instead. The pipeline closes its painter.
    """

    def __init__(self, shot: Shot, *, painter: Painter | None = None, device: str | None = None,
                 from_previous: bool | None = None, boil: float | None = None, trainer: Trainer | None = None) -> None:
        shot = with_overrides(shot, from_previous=from_previous, boil=boil)
        # A painter that does not optimise (a fast model) takes no start and no temporal term: it paints at boil 0
        # (the command warns), and its look hash says so.
        self.ignored_boil = shot.temporal.boil if painter is not None and painter.look_tag else 0.0
        if self.ignored_boil:
            shot = with_overrides(shot, boil=0.0)
        super().__init__(shot)
        self.device = device or shot.render.device
        self.look, self.style_paths = shot.resolved_look()
        # Regions reach the painter as guides, read per frame here (matte frames, the plate's alpha), never by the
        # painter from its look. A fast model paints whole frames: it ignores them (see `warnings`).
        self.warnings: list[str] = []
        self.ignored_regions = [r.name for r in self.look.regions] if painter is not None and painter.look_tag else []
        if self.ignored_regions:
            self.warnings.append(f"the fast model ignores the look's regions ({', '.join(self.ignored_regions)}): it "
                                 "paints whole frames with the look's u and styles")
        self._warned: set[str] = set()
        self._region_styles: dict[Path, np.ndarray] = {}
        self.painter: Painter = painter or GatysPainter(self.look.model_copy(update={"regions": []}), self.style_paths,
                                                        self.device)
        # A painter of another kind (a fast model) makes another look: a version never mixes the two silently.
        self.look_hash = look_hash(shot) + self.painter.look_tag
        self._frame_bytes = 1 << 20  # about what one written frame needs; set from the plate
        self._frame_warnings: list[str] = []
        self.boil: Boil | None = None
        self.temporal = settled_temporal(shot)  # what [temporal] leaves unsaid, filled in once for this render
        self.init_learned(shot, trainer, painter)  # render.learned: its keyframes, trainer and painters
        if shot.temporal.boil > 0:
            self.boil = Boil(shot, self.temporal, self.input_hash, self.picture, self.painted,
                             self.manifest, self.look.iterations)

    def close(self) -> None:
        self.painter.close()
        for p in self._learned_painters.values():
            p.close()
        super().close()

    def paint_edge(self, width: int, height: int) -> int:
        return max(32, round(self.shot.render.scale * max(width, height)))

    def paint_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) a plate of width×height is painted at: the flow cache's and the saved pictures' size."""
        ph, pw = fit_size(height, width, self.paint_edge(width, height))
        return pw, ph

    def painted(self, frame: int, size: tuple[int, int]) -> np.ndarray | None:
        """Frame `frame`'s painted display picture at `size` (width, height) when painted with this look, else None."""
        return painted_picture(self, frame, size)

    def _start_for(self, frame: int, plate) -> tuple[Start, tuple[int, int]]:
        """At boil > 0: where frame `frame` starts and its temporal guides (impasto.shot.temporal)."""
        assert self.boil is not None
        size = self.paint_size(plate.width, plate.height)
        self.boil.remember(frame, self.display(plate), size)
        return self.boil.start(frame, size), size

    def _regions_painted(self) -> bool:
        return bool(self.look.regions) and not self.ignored_regions

    def region_guides(self, frame: int, plate, guides: Guides | None) -> tuple[Guides | None, list[str]]:
        """`guides` (temporal targets, if any) with the look's regions for plate frame `frame` added: each matte
        frame read (pattern frames follow the plate's numbers; 'alpha' is the plate frame's alpha), fitted to the
        picture the painter gets, feathered at that size; and the regions' warnings for this frame."""
        if not self._regions_painted():
            return guides, []
        h, w = plate.rgb.shape[:2]
        edge = self.paint_edge(w, h)
        look = self.look.model_copy(update={"size": edge})  # feather in px of the painted picture

        def style(path: Path) -> np.ndarray:
            if path not in self._region_styles:
                self._region_styles[path] = read_image(path)
            return self._region_styles[path]

        regions, warnings = load_regions(look, fit_size(h, w, edge), content_alpha=plate.alpha, frame=frame,
                                         root=self.shot.root, style_loader=style)
        temporal = guides.temporal if guides is not None else ()
        return Guides(regions=tuple(regions), temporal=tuple(temporal)), warnings

    def _warn_once(self, warnings: list[str]) -> None:
        """Keep each region warning once per run (the first frame's wording), not once per frame."""
        for w in warnings:
            key = w.split(" covers ")[0].split(" overlap ")[0]
            if key not in self._warned:
                self._warned.add(key)
                self.warnings.append(w)

    def paint(self, frame: int, plate, *, init: str | np.ndarray = "content", iterations: int | None = None,
              on_iteration: Callable[[int, int], None] | None = None, guides: Guides | None = None,
              stop: Converged | None = None, painter: Painter | None = None) -> tuple[np.ndarray, np.ndarray, Painted]:
        """Paint one plate frame: (frame values to write, painted display picture at paint size, the painter's `Painted`)."""
        guides, warnings = self.region_guides(frame, plate, guides)
        self._warn_once(warnings)
        self._frame_warnings = warnings
        c = self.shot.colour
        h, w = plate.rgb.shape[:2]
        straight = self.straight(plate)
        premult = plate.alpha is not None and c.alpha == "premultiplied"
        shown = self.to_display(straight)
        # Guides go only when there are some: a painter written before them (a plug-in) keeps working at boil 0.
        extra = {"guides": guides} if guides is not None else {}
        if stop is not None:
            extra["stop"] = stop
        result = (painter or self.painter).paint(shown, self.paint_edge(w, h), init=init, iterations=iterations,
                                                 on_iteration=on_iteration, **extra)
        image = painted = result.image
        if painted.shape[:2] != (h, w):
            painted = upscale(painted, size=(w, h))
        if self.shot.post.denoise != "none":
            painted = denoise(np.clip(painted, 0.0, 1.0), self.shot.post.denoise, self.shot.post.strength)
        # Tone-mapped views run away near display white on the way back; no painted pixel outshines the plate.
        ceiling = max(1.0, float(np.nanmax(straight))) if straight.size else None
        out = self.colour.from_display(painted, c.input_space, c.display, c.view, ceiling=ceiling)
        if premult:
            out = premultiply(out, plate.alpha)
        weight = self.shot.dissolve_weight(frame)
        if weight < 1.0:
            out = self._mix(out, plate.rgb, weight)
        return out, image, result

    def _mix(self, painted: np.ndarray, plate: np.ndarray, weight: float) -> np.ndarray:
        """Dissolve in linear light: log or display-encoded plates go to the config's scene-linear and back."""
        if weight <= 0.0 or self.encoding == "scene-linear":
            return mix(painted, plate, weight)
        space = self.shot.colour.input_space
        lin = self.colour.convert(painted, space, "scene_linear"), self.colour.convert(plate, space, "scene_linear")
        return self.colour.convert(mix(lin[0], lin[1], weight), "scene_linear", space)

    def render_frame(self, frame: int, on_iteration: Callable[[int, int], None] | None = None) -> FrameEntry:
        """Render, write and record one frame; a failure is recorded and returned, a full disk raises DiskFull."""
        start = time.perf_counter()
        out_path = self.shot.output_path(frame)
        base = dict(
            input_hash=None, look_hash=self.look_hash, dissolve=self.shot.dissolve_weight(frame), seed=self.look.seed,
            impasto=__version__, torch=torch.__version__, host=socket.gethostname(), pid=os.getpid(),
            output=out_path.name, source_frame=self.source_index(frame),
        )
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            base["input_hash"] = self.input_hash(frame)
            if self._regions_painted():
                base["mattes"] = matte_hashes(self.look, frame)  # a missing matte frame fails this frame, naming it
            plate = self.read_plate(frame)
            self._frame_bytes = plate.rgb.nbytes // 2 + (plate.alpha.nbytes // 2 if plate.alpha is not None else 0)
            if self.plate_size is not None and (plate.width, plate.height) != self.plate_size:
                raise UsageError(f"Plate frame {frame} is {plate.width}×{plate.height}, not the shot's {self.plate_size[0]}×{self.plate_size[1]}.")
            init, label = previous_init(self, frame, None)
            start_at, (painter, learned_label, size) = Start(), self.frame_painter(frame, plate, base)
            label = learned_label or label
            if self.boil is not None:
                start_at, size = self._start_for(frame, plate)
                if start_at.init is not None:
                    init = start_at.init
                label = start_at.label
                base.update(boil=self.shot.temporal.boil, chunk=self.shot.temporal.chunk, keyframe=start_at.keyframe,
                            start=start_at.label, pulled_to=start_at.pulled_to, note=start_at.note,
                            held_to=list(start_at.held_to) or None)
            out, shown, result = self.paint(frame, plate, init=init, on_iteration=on_iteration,
                                            iterations=start_at.iterations, guides=start_at.guides, stop=start_at.stop,
                                            painter=painter)
            spec = plate.spec
            attrs = dict(spec.attributes)
            types = dict(spec.attribute_types)
            for k, v in {"impasto:shot": self.shot.name, "impasto:version": f"v{self.version:03d}",
                         "impasto:look_hash": self.look_hash, "impasto:frame": str(frame)}.items():
                attrs[k], types[k] = v, "string"
            like = replace(spec, attributes=attrs, attribute_types=types)
            if size is not None:  # saved before the frame and its entry: the next frame starts from it
                save_painted(painted_path(self.shot, frame), fit(shown, size))
            write_frame(out_path, Frame(rgb=out, alpha=plate.alpha, spec=like), like=like)
            loss = getattr(result, "loss", None)  # a plug-in painter may not say
            entry = FrameEntry(status="done", init=label, device=result.device, bytes=out_path.stat().st_size,
                               loss=None if loss is None else float(loss),
                               iterations=getattr(result, "iterations", None),
                               warnings=self._frame_warnings or None,
                               seconds=round(time.perf_counter() - start, 3), finished=time.time(), **base)
        except (KeyboardInterrupt, DiskFull):
            raise
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the shot
            message = str(exc) if isinstance(exc, ImpastoError) else f"{type(exc).__name__}: {exc}"
            if _out_of_room(out_path.parent, message, self._frame_bytes):
                raise DiskFull(
                    f"The disk holding '{out_path.parent}' is full; finished frames are kept, "
                    "free some space and run impasto render again."
                ) from None
            entry = FrameEntry(status="failed", error=message.splitlines()[0] if message else type(exc).__name__,
                               seconds=round(time.perf_counter() - start, 3), finished=time.time(), **base)
        update_manifest(self.manifest_path, self.shot.name, self.version, {frame: entry})
        return entry



def painted_picture(r: FramePipeline, frame: int, size: tuple[int, int]) -> np.ndarray | None:
    """Frame `frame`'s painted display picture at `size` (width, height) when it is painted with this look:
    the picture saved beside the version, else the written frame back to display and paint size; else None."""
    entry = r.manifest().frames.get(frame)
    out = r.shot.output_path(frame)
    if entry is None or entry.status != "done" or entry.look_hash != r.look_hash or not out.is_file():
        return None
    picture = load_painted(painted_path(r.shot, frame), size)
    if picture is not None:
        return picture
    try:
        written = read_frame(out)
    except ImpastoError:
        return None
    return fit(np.clip(r.display(written), 0.0, 1.0), size)


def previous_init(r: FramePipeline, frame: int, manifest: Manifest | None) -> tuple[str, str]:
    """(Look.init, label) for a frame: the previous painted frame when asked for and available."""
    if not r.shot.render.from_previous:
        return r.look.init, "content" if r.look.init == "content" else r.look.init
    i = r.frames.index(frame)
    if i == 0:
        return "content", "content"
    prev = r.frames[i - 1]
    path = r.scratch() / f"init.{prev}.exr"
    # Always the previous frame as written (post and dissolve included), never a copy kept in memory: a
    # resumed or farmed render then paints exactly what an uninterrupted one would.
    manifest = manifest or r.manifest()
    entry = manifest.frames.get(prev)
    out = r.shot.output_path(prev)
    if entry is not None and entry.status == "done" and entry.look_hash == r.look_hash and out.is_file():
        try:
            written = read_frame(out)
        except ImpastoError:
            return "content", "content"
        write_image(path, r.display(written))
        return str(path), f"previous:{prev}"
    return "content", "content"


def _out_of_room(folder: Path, message: str, nbytes: int = 1 << 20) -> bool:
    """After a failed frame: is `folder` out of room? Writers such as OpenEXR do not say (nor does free space under a
    quota or file-size limit), so when the message does not tell, try writing a frame's worth of bytes."""
    if disk_full(message, folder, nbytes):
        return True
    probe = folder / f".impasto-space-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            block = b"\0" * (1 << 16)
            for _ in range(max(1, -(-nbytes // len(block)))):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return disk_full(exc)
    finally:
        probe.unlink(missing_ok=True)
    return False
