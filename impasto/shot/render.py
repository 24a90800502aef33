"""Render a shot frame by frame, so that a run survives anything: kills, failing frames, farms, full disks.

Each frame is an independent unit: plate -> display-referred picture (OCIO) -> the `Painter` (the Gatys
optimisation, or a fast model) at the paint size -> upscale back to the plate's size and denoise (the paper's band-pass) -> back to the plate's colour
space -> dissolve with the plate in linear light -> the plate's alpha -> written under a temporary name and
renamed -> a manifest entry. A rerun skips frames whose entry matches (plate, look, dissolve weight) and whose
file opens; a version never mixes two looks unless forced. A frame whose plate frame is missing is recorded as
missing and the others are painted. Each frame is claimed before it is painted (`impasto.shot.locks`), so
renders of one shot running at once split its frames. `ShotRenderer` keeps its painter (network, style
targets) across frames, and its `render_frame` is what a farm or Ray worker calls per frame. The look hash is
`impasto.shot.identity.look_hash`.

Nothing here prints: progress goes to a callback as `FrameEvent`s.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import OpenImageIO as oiio
import torch

from impasto.errors import ImpastoError, UsageError
from impasto.files import disk_full
from impasto.io.frames import Frame, premultiply, read_frame, unpremultiply, write_frame
from impasto.io.images import read_image, write_image
from impasto.io.ocio import get_config
from impasto.io.sequence import existing_frames, format_frame_range, movie_frame_count, movie_frames, movie_info
from impasto.io.tensors import fit_size
from impasto.motion.flow import fit
from impasto.shot.config import Shot, colour_names, with_overrides
from impasto.shot.identity import cached_digest, look_hash, matte_hashes
from impasto.shot.locks import FrameLock, Holder, claim, make_folder
from impasto.shot.manifest import (
    DiskFull,
    FrameEntry,
    Manifest,
    read_manifest,
    update_manifest,
)
from impasto.objective.guides import Guides
from impasto.objective.regions import load_regions
from impasto.shot.painter import GatysPainter, Painted, Painter
from impasto.shot.plan import Boil as PlanBoil
from impasto.shot.plan import FrameFacts, Plan, frame_reason, plan_shot
from impasto.shot.post import denoise, mix, upscale
from impasto.shot.temporal import Boil, Start, load_painted, painted_path, save_painted
from impasto.version import __version__

def frame_opens(path: Path, size: tuple[int, int] | None = None) -> bool:
    """True when `path` is an image whose pixels read back completely (and, if given, is width×height)."""
    if not path.is_file():
        return False
    buf = oiio.ImageBuf(str(path))
    ok = buf.read(0, 0, True) and not buf.has_error
    if ok and size is not None:
        ok = (buf.spec().width, buf.spec().height) == size
    return bool(ok)


def plate_header(path: Path) -> tuple[int, int] | None:
    """(width, height) of a plate frame's data window from its header; None if the header cannot be read."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        return spec.width, spec.height
    finally:
        inp.close()


def _ranges(frames: list[int]) -> str:
    return format_frame_range(frames)


class ShotFrames:
    """The reading and colour half of a shot render: plate frames, the display picture, the manifest."""

    def __init__(self, shot: Shot) -> None:
        self.shot = shot
        self.version = shot.output.version
        self.colour = get_config(shot.resolve(shot.colour.config) if shot.colour.config else None)
        self.colour_names = colour_names(shot)
        self.encoding = self.colour.encoding(shot.colour.input_space)
        self.manifest_path = shot.manifest_path()
        self.frames = shot.frame_list()
        self.movie = shot.plate_is_movie
        self._movie_iter = None
        self._movie_at: int | None = None
        self._movie_digest: str | None = None
        # Made on first use only: Ray ends its actors without running their finalisers, so an eager one leaks.
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.plate_size: tuple[int, int] | None = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def scratch(self) -> Path:
        """A private temporary folder for this renderer, removed by close()."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="impasto-shot-")
        return Path(self._tmp.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------------------------- inputs
    def manifest(self) -> Manifest:
        return read_manifest(self.manifest_path)

    def source_index(self, frame: int) -> int | None:
        """For a movie plate, the index in the movie (0 = its first frame) of shot frame `frame`; None otherwise."""
        if not self.movie:
            return None
        mapping = getattr(self.shot, "source_index", None)  # the shot file's numbering (--first-frame), when it has one
        return int(mapping(frame)) if callable(mapping) else frame - self.frames[0]

    def input_hash(self, frame: int) -> str:
        if self.movie:
            if self._movie_digest is None:
                self._movie_digest = cached_digest(self.shot.plate_path())
            return f"{self._movie_digest}:{self.source_index(frame)}"
        return cached_digest(self.shot.plate_pattern().path(frame))

    def missing_plates(self, frames: list[int]) -> list[int]:
        """Frames of `frames` with no plate frame: a file not there, or beyond the movie's ends."""
        if self.movie:
            info = movie_info(self.shot.plate_path())
            self.plate_size = (info.width, info.height)
            # Containers that do not state a frame count (mkv) are counted by decoding.
            count = info.frames or movie_frame_count(self.shot.plate_path()) or None
            return [f for f in frames if (i := self.source_index(f)) is None or i < 0 or (count is not None and i >= count)]
        return existing_frames(self.shot.plate_pattern(), frames)[1]

    def check_plates(self, frames: list[int]) -> list[int]:
        """The frames whose plate frame is missing (painted once it is there); stop before painting anything if the
        plate frames that are there differ in size (one sentence)."""
        missing = self.missing_plates(frames)
        if self.movie:
            return missing
        pattern = self.shot.plate_pattern()
        # The shot's first readable frame sets the size, so farm tasks of one shot all agree.
        ref_frame, ref = None, None
        for f in [self.frames[0], *frames]:
            if pattern.path(f).is_file():
                size = plate_header(pattern.path(f))
                if size is not None:
                    ref_frame, ref = f, size
                    break
        for f in frames:
            size = plate_header(pattern.path(f))
            if size is not None and ref is not None and size != ref:
                raise UsageError(
                    f"Plate frame {f} is {size[0]}×{size[1]} but frame {ref_frame} is {ref[0]}×{ref[1]}; "
                    "a shot needs one resolution, so conform the plate first."
                )
        self.plate_size = ref
        return missing

    def read_plate(self, frame: int):
        """The plate frame as a `Frame` (file values, alpha, spec)."""
        if not self.movie:
            return read_frame(self.shot.plate_pattern().path(frame))
        # Decode forward through one open movie (counting from its first frame, index 0); go back to the start
        # only when asked for an earlier frame.
        index = self.source_index(frame)
        if self._movie_iter is None or self._movie_at is None or index <= self._movie_at:
            self._movie_iter = movie_frames(self.shot.plate_path(), 0)
            self._movie_at = None
        for number, rgb in self._movie_iter:
            self._movie_at = number
            if number == index:
                return Frame(rgb=rgb)
        self._movie_iter = None
        raise UsageError(f"Movie '{self.shot.plate}' ends before frame {frame} (its frame {index}).")

    def display(self, frame) -> np.ndarray:
        """A frame's pixels as the display-referred 0-1 picture the network sees."""
        rgb = frame.rgb
        if frame.alpha is not None and self.shot.colour.alpha == "premultiplied":
            rgb = unpremultiply(rgb, frame.alpha)
        c = self.shot.colour
        return self.colour.to_display(rgb, c.input_space, c.display, c.view)


class ShotRenderer(ShotFrames):
    """Renders frames of one shot version with one `Painter`, kept (network, style targets) between frames.

    The painter defaults to the optimisation (`GatysPainter`) with the shot's look; a fast model's painter can be
    given instead. The renderer closes its painter.
    """

    def __init__(self, shot: Shot, *, painter: Painter | None = None, device: str | None = None,
                 from_previous: bool | None = None, boil: float | None = None) -> None:
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
        if shot.temporal.boil > 0:
            self.boil = Boil(shot, self.input_hash, lambda n: self.display(self.read_plate(n)), self.painted,
                             self.manifest, self.look.iterations)

    def close(self) -> None:
        self.painter.close()
        super().close()

    def plan(self, frames: list[int] | None = None, *, force: bool = False) -> Plan:
        """Which of `frames` (default: the shot's) need rendering, as tasks (impasto.shot.plan); UsageError if the
        version holds another look."""
        started = time.time()
        wanted = self._wanted(frames)
        missing = set(self.check_plates(wanted))
        self.clean_stale_temporaries()
        manifest = self.manifest()
        facts = {n: self.facts(n, manifest, plate=n not in missing) for n in wanted}
        for n, e in manifest.done().items():  # another look anywhere in the version counts
            facts.setdefault(n, FrameFacts(entry=e, output=self.shot.output_path(n).exists()))
        t = self.shot.temporal
        boil = PlanBoil(t.chunk, t.pull, t.keyframes == "chained") if self.boil is not None else None
        plan = plan_shot(self.frames, facts, self.look_hash, wanted=wanted, boil=boil, started=started)
        if plan.other_look and not force:
            cfg = self.shot.source.name if self.shot.source else f"{self.shot.name}.toml"
            raise UsageError(
                f"Version {self.version} of {self.shot.name} holds frames {_ranges(plan.other_look)} painted with a different look; "
                f"run 'impasto shot version-up {cfg}' to paint the new look as version {self.version + 1}, "
                f"or 'impasto render {cfg} --force' to re-render version {self.version} in place."
            )
        return plan

    def facts(self, n: int, manifest: Manifest, plate: bool = True) -> FrameFacts:
        """What frame `n`'s manifest entry and files say now (the plan's only I/O). The costly looks (the plate's
        digest, the mattes, reading the written frame back) are taken only where they decide."""
        entry = manifest.frames.get(n)
        out = self.shot.output_path(n)
        if not plate or entry is None or entry.status != "done" or entry.look_hash != self.look_hash:
            return FrameFacts(entry=entry, plate=plate, output=out.exists() if plate else out.is_file())
        input_hash = self.input_hash(n)
        mattes = None
        if self._regions_painted() and entry.input_hash == input_hash:
            try:
                mattes = matte_hashes(self.look, n)
            except UsageError:
                mattes = entry.mattes or {}  # a matte frame gone since: keep the painting, as for a plate frame gone
        settled = entry.input_hash == input_hash and (mattes is None or (entry.mattes or {}) == mattes)
        dissolve = self.shot.dissolve_weight(n)
        opens = frame_opens(out, self.plate_size) if settled and abs(entry.dissolve - dissolve) <= 1e-6 else None
        return FrameFacts(entry=entry, plate=True, output=out.exists(), opens=opens, input_hash=input_hash,
                          mattes=mattes, dissolve=dissolve)

    def reason(self, n: int, manifest: Manifest) -> str | None:
        """Why frame `n` needs painting, or None when its manifest entry and file say it is done."""
        return frame_reason(self.facts(n, manifest), self.look_hash)

    def claim(self, n: int, since: float, run: str = "") -> FrameLock | Holder | None:
        """Claim frame `n` for painting (see impasto.shot.locks): a FrameLock, the live Holder of the frame, or None
        when another render finished it after `since` (when this render planned) or it no longer needs painting."""
        def still_needed() -> bool:
            manifest = self.manifest()
            entry = manifest.frames.get(n)
            if entry is not None and entry.finished >= since and entry.pid != os.getpid():
                return False  # another render painted (or failed) it after this one planned
            return self.reason(n, manifest) is not None

        return claim(self.shot.output_path(n), self.manifest_path, still_needed, run=run)

    def record_missing(self, frames: list[int]) -> None:
        """Record frames whose plate frame is missing in the manifest (painted by a later render once it is there)."""
        if not frames:
            return
        pattern = None if self.movie else self.shot.plate_pattern()
        entries = {}
        for n in frames:
            where = f"'{pattern.path(n)}'" if pattern is not None else f"movie '{self.shot.plate}'"
            entries[n] = FrameEntry(status="missing", error=f"plate frame {n} is missing ({where} is not there)"
                                    if pattern is not None else f"plate frame {n} is not in {where}",
                                    look_hash=self.look_hash, source_frame=self.source_index(n), finished=time.time(),
                                    impasto=__version__, host=socket.gethostname(), pid=os.getpid())
        make_folder(self.shot.output_folder())
        update_manifest(self.manifest_path, self.shot.name, self.version, entries)

    def clean_stale_temporaries(self, older_than: float = 60.0) -> list[Path]:
        """Remove temporary frame files left by killed renders (their process is gone and they are not fresh)."""
        pattern = self.shot.output_pattern()
        folder = pattern.directory
        if not folder.is_dir():
            return []
        name0 = pattern.path(0).name  # frame 0 takes exactly `pad` digits
        suffix = Path(name0).suffix
        prefix = name0[: len(name0) - len(pattern.extension) - pattern.pad]
        # impasto.files.temporary_name: .<stem>.tmp-<pid>-<random><suffix>
        rx = re.compile(r"^\." + re.escape(prefix) + r"-?\d+\.tmp-(\d+)(?:-[0-9a-f]+)?" + re.escape(suffix) + "$")
        removed = []
        now = time.time()
        for entry in os.scandir(folder):
            m = rx.match(entry.name)
            if not m or now - entry.stat().st_mtime < older_than:
                continue
            try:
                os.kill(int(m.group(1)), 0)
                continue  # its writer is still running here
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
        return removed

    def _wanted(self, frames: list[int] | None) -> list[int]:
        if frames is None:
            return list(self.frames)
        outside = sorted(set(frames) - set(self.frames))
        if outside:
            raise UsageError(f"Frames {_ranges(outside)} are outside shot {self.shot.name}'s range {self.shot.frames}.")
        return sorted(set(frames))

    # -------------------------------------------------------------------------------------- painting
    def paint_edge(self, width: int, height: int) -> int:
        return max(32, round(self.shot.render.scale * max(width, height)))

    def paint_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) a plate of width×height is painted at: the flow cache's and the saved pictures' size."""
        ph, pw = fit_size(height, width, self.paint_edge(width, height))
        return pw, ph

    def painted(self, frame: int, size: tuple[int, int]) -> np.ndarray | None:
        """Frame `frame`'s painted display picture at `size` (width, height) when it is painted with this look:
        the picture saved beside the version, else the written frame back to display and paint size; else None."""
        entry = self.manifest().frames.get(frame)
        out = self.shot.output_path(frame)
        if entry is None or entry.status != "done" or entry.look_hash != self.look_hash or not out.is_file():
            return None
        picture = load_painted(painted_path(self.shot, frame), size)
        if picture is not None:
            return picture
        try:
            written = read_frame(out)
        except ImpastoError:
            return None
        return fit(np.clip(self.display(written), 0.0, 1.0), size)

    def _start_for(self, frame: int, plate) -> tuple[Start, tuple[int, int]]:
        """At boil > 0: where frame `frame` starts and its temporal guides (impasto.shot.temporal)."""
        assert self.boil is not None
        size = self.paint_size(plate.width, plate.height)
        self.boil.remember(frame, self.display(plate), size)
        return self.boil.start(frame, size), size

    def _init_for(self, frame: int, manifest: Manifest | None) -> tuple[str, str]:
        """(Look.init, label) for a frame: the previous painted frame when asked for and available."""
        if not self.shot.render.from_previous:
            return self.look.init, "content" if self.look.init == "content" else self.look.init
        i = self.frames.index(frame)
        if i == 0:
            return "content", "content"
        prev = self.frames[i - 1]
        path = self.scratch() / f"init.{prev}.exr"
        # Always the previous frame as written (post and dissolve included), never a copy kept in memory: a
        # resumed or farmed render then paints exactly what an uninterrupted one would.
        manifest = manifest or self.manifest()
        entry = manifest.frames.get(prev)
        out = self.shot.output_path(prev)
        if entry is not None and entry.status == "done" and entry.look_hash == self.look_hash and out.is_file():
            try:
                written = read_frame(out)
            except ImpastoError:
                return "content", "content"
            write_image(path, self.display(written))
            return str(path), f"previous:{prev}"
        return "content", "content"

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
              on_iteration: Callable[[int, int], None] | None = None,
              guides: Guides | None = None) -> tuple[np.ndarray, np.ndarray, Painted]:
        """Paint one plate frame: (frame values to write, painted display picture at paint size, the painter's `Painted`)."""
        guides, warnings = self.region_guides(frame, plate, guides)
        self._warn_once(warnings)
        self._frame_warnings = warnings
        c = self.shot.colour
        h, w = plate.rgb.shape[:2]
        straight = plate.rgb
        premult = plate.alpha is not None and c.alpha == "premultiplied"
        if premult:
            straight = unpremultiply(plate.rgb, plate.alpha)
        shown = self.colour.to_display(straight, c.input_space, c.display, c.view)
        # Guides go only when there are some: a painter written before them (a plug-in) keeps working at boil 0.
        extra = {"guides": guides} if guides is not None else {}
        result = self.painter.paint(shown, self.paint_edge(w, h), init=init, iterations=iterations,
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
            init, label = self._init_for(frame, None)
            start_at, size = Start(), None
            if self.boil is not None:
                start_at, size = self._start_for(frame, plate)
                if start_at.init is not None:
                    init = start_at.init
                label = start_at.label
                base.update(boil=self.shot.temporal.boil, chunk=self.shot.temporal.chunk, keyframe=start_at.keyframe,
                            start=start_at.label, pulled_to=start_at.pulled_to, note=start_at.note)
            out, shown, result = self.paint(frame, plate, init=init, on_iteration=on_iteration,
                                            iterations=start_at.iterations, guides=start_at.guides)
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


# ------------------------------------------------------------------------------------------------ estimate


@dataclass
class Estimate:
    frames: int  # frames the estimate covers (those not done yet)
    paint_size: tuple[int, int]  # width, height painted
    plate_size: tuple[int, int]
    iterations: int
    per_iteration: float
    per_frame: float
    device: str
    probe_iterations: int
    cores_used: float = 0.0  # CPU seconds per second during the probe: well below `threads` on a busy machine
    threads: int = 1
    look_size: int = 0  # the look's long edge, which a shot does not use: render.scale of the plate sets it
    scale: float = 1.0
    missing: int = 0  # frames whose plate frame is missing

    @property
    def scale_overrides_size(self) -> bool:
        return max(self.paint_size) != self.look_size

    @property
    def frames_per_hour(self) -> float:
        return 3600.0 / self.per_frame if self.per_frame > 0 else float("inf")

    @property
    def total(self) -> float:
        return self.per_frame * self.frames


def estimate(shot: Shot, frames: list[int] | None = None, *, device: str | None = None, probe_iterations: int = 4,
             force: bool = False) -> Estimate:
    """Time a short probe on the first frame to be rendered (a few iterations, nothing written) and extrapolate."""
    probe_iterations = max(2, probe_iterations)
    with ShotRenderer(shot, device=device) as r:
        plan = r.plan(frames, force=force)
        there = plan.todo or [n for n in plan.frames if n not in set(plan.missing)]
        if not there:
            raise UsageError(f"No plate frame of {_ranges(plan.frames)} is there to time; check the shot's plate '{shot.plate}'.")
        frame = there[0]
        t0 = time.perf_counter()
        plate = r.read_plate(frame)
        read_s = time.perf_counter() - t0
        # Warm up: network and style targets load once per process, not per frame.
        r.paint(frame, plate, iterations=1)
        stamps: list[float] = []
        c1 = time.process_time()
        t1 = time.perf_counter()
        out, _, result = r.paint(frame, plate, iterations=probe_iterations,
                                 on_iteration=lambda i, n: stamps.append(time.perf_counter()))
        total = time.perf_counter() - t1
        cores = (time.process_time() - c1) / total if total > 0 else 0.0
        steps = np.diff([t1, *stamps])
        # L-BFGS's first steps search for a step size (many evaluations); later ones mostly take one. Those
        # first steps happen on every frame, so they stay in the per-frame overhead below.
        per_iter = float(np.median(steps[2:])) if len(steps) >= 3 else float(steps[-1])
        overhead = max(0.0, total - per_iter * probe_iterations)  # content targets, post, colour
        t2 = time.perf_counter()
        tmp = r.scratch() / f"probe{shot.output_pattern().extension}"
        write_frame(tmp, Frame(rgb=out, alpha=plate.alpha, spec=plate.spec), like=plate.spec)
        write_s = time.perf_counter() - t2
        h, w = plate.rgb.shape[:2]
        ph, pw = fit_size(h, w, r.paint_edge(w, h))
        per_frame = read_s + overhead + write_s + per_iter * r.look.iterations
        return Estimate(frames=len(plan.todo), paint_size=(pw, ph), plate_size=(w, h), iterations=r.look.iterations,
                        per_iteration=per_iter, per_frame=per_frame, device=result.device, probe_iterations=probe_iterations,
                        cores_used=cores, threads=torch.get_num_threads(), look_size=r.look.size,
                        scale=shot.render.scale, missing=len(plan.missing))
