"""Render a shot frame by frame, so that a run survives anything: kills, failing frames, farms, full disks.

Each frame is an independent unit, painted by the frame pipeline (`impasto.shot.pipeline`). `ShotRenderer` adds
what the planner (`impasto.shot.plan`) and the loop (`impasto.shot.loop`) need: a rerun skips frames whose entry
matches (plate, look, mattes, dissolve weight) and whose file opens; a version never mixes two looks unless
forced; a frame whose plate frame is missing is recorded as missing and the others are painted; each frame is
claimed before it is painted (`impasto.shot.locks`), so renders of one shot running at once split its frames.
The look hash is `impasto.shot.identity.look_hash`. Nothing here prints.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import OpenImageIO as oiio

from impasto.errors import UsageError
from impasto.io.sequence import format_frame_range
from impasto.shot.identity import matte_hashes
from impasto.shot.locks import FrameLock, Holder, claim, make_folder
from impasto.shot.manifest import FrameEntry, Manifest, update_manifest
from impasto.shot.pipeline import FramePipeline
from impasto.shot.plan import Boil as PlanBoil
from impasto.shot.learned import painter_path
from impasto.shot.plan import FrameFacts, Learned, Plan, frame_reason, plan_shot
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


def _ranges(frames: list[int]) -> str:
    return format_frame_range(frames)


class ShotRenderer(FramePipeline):
    """The frame pipeline of one shot version with what the planner and the frame locks need: the plan (facts
    read from the plate, the manifest and the written frames), claims, frames recorded missing, stale temporaries.
    Construct it as a `FramePipeline` (shot, painter, device, from_previous, boil)."""

    def plan(self, frames: list[int] | None = None, *, force: bool = False) -> Plan:
        """Which of `frames` (default: the shot's) need rendering, as tasks (impasto.shot.plan); UsageError if the
        version holds another look."""
        started = time.time()
        wanted = self._wanted(frames)
        missing = set(self.check_plates(wanted))
        self.clean_stale_temporaries()
        manifest = self.manifest()
        pid = self.painter_id(manifest) if self.learned_keys else None
        facts = {n: self.facts(n, manifest, plate=n not in missing, painter=pid) for n in wanted}
        for n, e in manifest.done().items():  # another look anywhere in the version counts
            facts.setdefault(n, FrameFacts(entry=e, output=self.shot.output_path(n).exists()))
        t = self.temporal
        boil = (PlanBoil(t.chunk, t.pull, t.keyframes == "chained", t.between or "forward")
                if self.boil is not None else None)
        learned = (Learned(self.shot.render.learned or 0, pid is not None and painter_path(self.shot, pid, self.version).is_file())
                   if self.learned_keys else None)
        plan = plan_shot(self.frames, facts, self.look_hash, wanted=wanted, boil=boil, started=started, learned=learned)
        if plan.other_look and not force:
            cfg = self.shot.source.name if self.shot.source else f"{self.shot.name}.toml"
            raise UsageError(
                f"Version {self.version} of {self.shot.name} holds frames {_ranges(plan.other_look)} painted with a different look; "
                f"run 'impasto shot version-up {cfg}' to paint the new look as version {self.version + 1}, "
                f"or 'impasto render {cfg} --force' to re-render version {self.version} in place."
            )
        return plan

    def facts(self, n: int, manifest: Manifest, plate: bool = True, painter: str | None | bool = False) -> FrameFacts:
        """What frame `n`'s manifest entry and files say now (the plan's only I/O). The costly looks (the plate's
        digest, the mattes, reading the written frame back) are taken only where they decide. With render.learned,
        `painter` is the id of the painter the keyframes make now (False: look it up)."""
        entry = manifest.frames.get(n)
        out = self.shot.output_path(n)
        learned = self.is_learned(n)
        if learned and painter is False:
            painter = self.painter_id(manifest)
        pid = painter if learned and isinstance(painter, str) else None
        if not plate or entry is None or entry.status != "done" or entry.look_hash != self.look_hash:
            return FrameFacts(entry=entry, plate=plate, output=out.exists() if plate else out.is_file(),
                              learned=learned, painter=pid)
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
                          mattes=mattes, dissolve=dissolve, learned=learned, painter=pid)

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
