"""Issues 16 and 25's temporal figures on real footage: how steady boil 0, 0.5 and 1 paint a shot, with the
frames between keyframes held forward (the scheme of issue 16, the look's count) or from both sides (issue 25,
iterations "auto"), over chunk sizes.

    python bench/temporal.py [--frames 24] [--edge 256] [--iterations 256] [--u 4] [--chunks 6,12]
                             [--boils 0.5,1] [--schemes forward,two-sided] [--quick]

For each clip of Debian's opencv-doc (Megamind.avi, vtest.avi; `make bench-setup` installs them) a shot of its
first N frames is made with `impasto.shot.setup.init_shot`, painted at `--edge` px long edge (render.scale =
edge / the plate's long edge) in the style of ../shared/data/images/starry_night.jpg, and rendered through the
product path (`load_shot` + `render_frames`) as versions of one shot (one name, so one seed): boil 0, then each
boil × scheme × chunk (`boil1_two-sided_c6` ...), and --from-previous when asked for (`--settings`).

Figures per setting: E_warp (Lai et al. 2018, 0-255 over the pixels the plate's flow trusts) of the painted frames
and the plate's own for every pair, from `impasto.shot.status.ewarp_for_range` (the cached flows); its excess
(painted - plate); `max_pair_ratio`, the largest painted pair's E_warp over the median painted pair's (seams
included: no pair may stand out); E_warp at chunk seams (pairs into a keyframe) against the median inside chunks;
the style loss of each painted frame at paint size (`impasto.evaluate_loss`, mean); time per frame (the
manifest's seconds, mean with the keyframes included) and iterations per frame. Optionally (`--warped-start`),
with the core API: the iteration at which a frame started from boil 0's previous frame warped reaches boil 0's
final loss.

Writes bench/results/temporal_<tag>.json (every figure, the settings, the machine), and under
bench/out/temporal/ a contact strip of 6 consecutive frames per setting (spanning the first seam) and a chart of
E_warp per pair with the seams marked. The renders are kept under bench/out/temporal/<clip>_<settings>/ and a
rerun with the same settings resumes them (--fresh starts over). Wall times are only as good as the machine's
quiet: the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import impasto
from impasto.errors import ImpastoError
from impasto.files import atomic_write_text
from impasto.io.frames import read_frame
from impasto.io.images import write_image
from impasto.io.sequence import movie_frames, movie_info
from impasto.look import Look
from impasto.motion import FlowCache, warp
from impasto.motion.flow import fit
from impasto.objective.controls import temporal_weight
from impasto.shot.config import load_shot, save_shot
from impasto.shot.setup import init_shot
from impasto.shot.manifest import read_manifest
from impasto.shot.source import PlateSource
from impasto.shot.loop import render_frames
from impasto.shot.plan import keyframes
from impasto.shot.status import BLACK, ewarp_for_range, paint_size

REPO = Path(__file__).resolve().parents[1]
CLIPS = Path("/usr/share/doc/opencv-doc/examples/data")
CLIP_NAMES = ("Megamind.avi", "vtest.avi")
STYLE = REPO.parent / "shared" / "data" / "images" / "starry_night.jpg"
OUT = REPO / "bench" / "out" / "temporal"
RESULTS = REPO / "bench" / "results"
FIRST = 1001
STRIP = 6  # consecutive frames in a contact strip

# issue 16's (with the look's count) and issue 25's two (iterations "auto"); relay's versions are numbered after
# the others', so adding it left the versions of earlier runs where they were.
SCHEMES = ("forward", "two-sided", "relay")

TARGETS = {  # issue 25's
    "boil1_excess_fraction": 0.30,  # boil 1's E_warp excess at most 30 % of boil 0's
    "boil1_style_within": 0.10,  # its style loss within 10 % of boil 0's
    "boil1_time_ratio": 0.7,  # time per frame (keyframes included) at most 0.7x boil 0's
    "max_pair_ratio": 1.5,  # no pair stands out: the largest pair's E_warp at most 1.5x the median pair's
}


@dataclass(frozen=True)
class Setting:
    """One version of the bench's shot: its boil, how frames between keyframes are held, the chunk."""

    name: str
    version: int
    boil: float = 0.0
    scheme: str = ""  # forward or two-sided at boil > 0
    chunk: int = 12
    from_previous: bool = False


def settings(a: argparse.Namespace) -> list[Setting]:
    """boil 0, every boil × scheme × chunk asked for, and --from-previous: one output version each."""
    out = [Setting("boil0", 1)]
    for first in (True, False):
        for chunk in a.chunks:
            for boil in a.boils:
                for scheme in a.schemes:
                    if (scheme != "relay") == first:
                        out.append(Setting(f"boil{boil:g}_{scheme}_c{chunk}", len(out) + 1, boil, scheme, chunk))
    out.append(Setting("from_previous", len(out) + 1, from_previous=True))
    return out


def code_state() -> dict:
    """The commit the bench ran at and which of the files it measures were edited beyond it (other work in progress)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = git("status", "--porcelain", "--", "impasto").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted": [line[3:] for line in dirty]}


def machine() -> dict:
    return {"cpu": describe(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "impasto": impasto.__version__ if hasattr(impasto, "__version__") else "", "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg())}


# ------------------------------------------------------------------------------------------------ shots
def make_shots(clip: Path, work: Path, a: argparse.Namespace) -> dict[str, Path]:
    """One shot file per setting in `work` (one shot name and output folder, a version each); their paths."""
    name = clip.stem.lower()
    base = work / f"{name}.toml"
    info = movie_info(str(clip))
    scale = a.edge / max(info.width, info.height)
    first = FIRST + lead_in(clip)
    _, shot = init_shot(name, str(clip), f"{first}-{first + a.frames - 1}", shot_file=base, styles=[str(STYLE)],
                        settings={"render": {"scale": scale}, "output": {"folder": str(work / "render")}}, overwrite=True)
    shot = load_shot(base)
    shot.look = Look(u=a.u, iterations=a.iterations)
    save_shot(base, shot)
    paths = {}
    for st in settings(a):
        s = load_shot(base)
        s.output.version = st.version
        s.temporal.boil = st.boil
        s.temporal.chunk = st.chunk
        if st.boil > 0:
            s.temporal.between = st.scheme
            # Forward as issue 16 painted it (every frame the look's count); two-sided stops when converged.
            s.temporal.iterations = a.iterations if st.scheme == "forward" else "auto"
        if a.pull is not None:
            s.temporal.pull = a.pull
        s.render.from_previous = st.from_previous
        paths[st.name] = save_shot(work / f"{name}_{st.name}.toml", s)
    return paths


def forget(shot) -> None:
    """Delete a version's painted frames, its manifest and its saved paintings (--fresh): it renders anew."""
    for n in shot.frame_list():
        shot.output_path(n).unlink(missing_ok=True)
    shot.manifest_path().unlink(missing_ok=True)
    shutil.rmtree(shot.output_folder() / ".painted" / f"v{shot.output.version:03d}", ignore_errors=True)


def lead_in(clip: Path, most: int = 48) -> int:
    """How many black frames the clip opens with (Megamind.avi: one): the shot starts after them, since E_warp
    leaves black plate frames out and a painted black keyframe would start its chunk from nothing."""
    for i, (_, rgb) in enumerate(movie_frames(str(clip), 0)):
        if i >= most or float(np.percentile(rgb, 99)) >= BLACK:
            return i
    return 0


def render_setting(path: Path, setting: str, processes: int = 1, kill_after: int = 0) -> dict:
    """Render one setting's version through the product path (resumes a killed run); wall time and load. With
    `processes` above 1, that many `impasto render` processes of the shot at once (they split its frames through
    the frame locks); with `kill_after`, one of them is killed (SIGKILL) once that many frames are done, and the
    shot is rendered again to finish what it left."""
    if processes > 1 or kill_after:
        return render_processes(path, setting, processes, kill_after)
    shot = load_shot(path)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()

    def progress(ev) -> None:
        if ev.kind in ("done", "failed"):
            extra = f" ({ev.error})" if ev.error else ""
            print(f"    {setting} frame {ev.frame} {ev.kind} in {ev.seconds:.1f} s [{ev.done}/{ev.total}]{extra}",
                  flush=True)

    report = render_frames(shot, progress=progress)
    if report.failed:
        raise ImpastoError(f"{setting}: frames {sorted(report.failed)} failed: {next(iter(report.failed.values()))}")
    return {"at": time.strftime("%H:%M:%SZ", time.gmtime()), "wall_s": round(time.perf_counter() - t0, 1), "rendered": len(report.rendered),
            "skipped": len(report.skipped), "loadavg_before": round(load0, 2), "loadavg_after": round(os.getloadavg()[0], 2)}


def render_processes(path: Path, setting: str, processes: int, kill_after: int) -> dict:
    shot = load_shot(path)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "impasto", "render", str(path)]
    procs = [subprocess.Popen(cmd, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(max(1, processes))]
    killed = None
    while any(p.poll() is None for p in procs):
        done = len(read_manifest(shot.manifest_path()).done())
        if kill_after and killed is None and done >= kill_after and procs[0].poll() is None:
            procs[0].kill()
            killed = done
            print(f"    {setting}: killed one render after {done} frames", flush=True)
        time.sleep(0.5)
    resumed = None
    if killed is not None:
        t1 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if rc.returncode != 0:
            raise ImpastoError(f"{setting}: the resumed render failed: {rc.stderr.strip().splitlines()[-1:]}")
        resumed = round(time.perf_counter() - t1, 1)
    bad = [p.returncode for p in procs[1 if killed is not None else 0:] if p.returncode != 0]
    if bad:
        raise ImpastoError(f"{setting}: a render process exited {bad[0]}")
    return {"at": time.strftime("%H:%M:%SZ", time.gmtime()), "wall_s": round(time.perf_counter() - t0, 1),
            "processes": processes, "killed_after_frames": killed, "resume_s": resumed,
            "loadavg_before": round(load0, 2), "loadavg_after": round(os.getloadavg()[0], 2)}


# ------------------------------------------------------------------------------------------------ figures
def times(path: Path) -> dict:
    """Time and iterations per frame from the manifest: mean and median over all frames (keyframes included),
    median over keyframes and over the others."""
    shot = load_shot(path)
    frames = read_manifest(shot.manifest_path()).done()
    secs = [e.seconds for e in frames.values()]
    keys = [e.seconds for e in frames.values() if getattr(e, "keyframe", False)]
    rest = [e.seconds for e in frames.values() if not getattr(e, "keyframe", False)]
    its = [e.iterations for e in frames.values() if e.iterations is not None]
    rest_its = [e.iterations for e in frames.values() if e.iterations is not None and not e.keyframe]
    starts = sorted({str(getattr(e, "start", None) or e.init) for e in frames.values()})
    med = lambda xs: round(statistics.median(xs), 3) if xs else None
    mean = lambda xs: round(statistics.fmean(xs), 3) if xs else None
    return {"median_s": med(secs), "mean_s": mean(secs), "keyframes_median_s": med(keys) if keys else None,
            "others_median_s": med(rest), "frames": len(secs), "iterations_mean": mean(its),
            "iterations_between_median": med(rest_its), "starts": starts[:6]}


def ewarp(path: Path, chunk: int, boil: float, scheme: str = "") -> dict:
    shot = load_shot(path)
    frames = shot.frame_list()
    got = ewarp_for_range(shot, shot.output.version, frames)
    out = {k: got.get(k) for k in ("painted", "plate", "excess", "pairs", "size", "left_out")}
    out["per_pair"] = [[p["frames"][0], p["frames"][1], round(p["painted"], 3), round(p["plate"], 3)]
                       for p in got["per_pair"]]
    out["max_pair_ratio"] = max_pair_ratio(got["per_pair"])
    if boil > 0:
        out["keyframes"] = keyframes(frames, chunk, last=scheme == "two-sided")
        out["seams"] = seam_figures(got["per_pair"], out["keyframes"][1:])
    return out


def max_pair_ratio(per_pair: list[dict]) -> float | None:
    """The largest painted pair's E_warp over the median painted pair's (seams included); None without pairs."""
    painted = [p["painted"] for p in per_pair]
    med = statistics.median(painted) if painted else 0.0
    return max(painted) / med if med > 0 else None


def seam_figures(per_pair: list[dict], keyframes: list[int]) -> dict | None:
    """E_warp at chunk seams (pairs whose second frame is a keyframe after the first) against the median of the
    pairs inside chunks, painted and excess; None when either kind is missing."""
    keys = set(keyframes)
    seam = [p for p in per_pair if p["frames"][1] in keys]
    inside = [p for p in per_pair if p["frames"][1] not in keys]
    if not seam or not inside:
        return None
    seam_mean = statistics.fmean(p["painted"] for p in seam)
    seam_x = statistics.fmean(p["excess"] for p in seam)
    med_in = statistics.median(p["painted"] for p in inside)
    med_in_x = statistics.median(p["excess"] for p in inside)
    return {"pairs": [[p["frames"][0], p["frames"][1], round(p["painted"], 3), round(p["excess"], 3)] for p in seam],
            "seam_painted_mean": seam_mean, "inside_painted_median": med_in,
            "ratio": seam_mean / med_in if med_in > 0 else None,
            "seam_excess_mean": seam_x, "inside_excess_median": med_in_x,
            "excess_ratio": seam_x / med_in_x if med_in_x > 0 else None}


def style_losses(paths: dict[str, Path], edge: int, device: str) -> dict[str, dict]:
    """Mean loss groups (evaluate_loss at paint size) of each setting's painted frames against their plate frame."""
    shots = {s: load_shot(p) for s, p in paths.items()}
    first = next(iter(shots.values()))
    look, styles = first.resolved_look()
    look = look.model_copy(update={"size": edge})
    sums: dict[str, dict[str, list[float]]] = {s: {} for s in shots}
    with PlateSource(first) as r:
        for n in first.frame_list():
            plate = r.display(r.read_plate(n))
            for s, shot in shots.items():
                painted = r.display(read_frame(shot.output_path(n)))
                loss = impasto.evaluate_loss(painted, plate, styles, look, device=device)
                for g, v in loss.items():
                    sums[s].setdefault(g, []).append(v)
    return {s: {g: statistics.fmean(v) for g, v in groups.items()} for s, groups in sums.items()}


def warped_start(path: Path, edge: int, index: int, device: str) -> dict:
    """Iterations a warped start (boil 1's start and temporal term) needs to reach boil 0's final loss on frame t."""
    shot = load_shot(path)
    look, styles = shot.resolved_look()
    look = look.model_copy(update={"size": edge})
    frames = shot.frame_list()
    t, prev = frames[index], frames[index - 1]
    with PlateSource(shot) as r:
        shown_prev = r.display(r.read_plate(prev))
        shown_t = r.display(r.read_plate(t))
        a = impasto.render(shown_prev, styles, look, device=device)  # boil 0's frame t-1, as its painter paints it
        b = impasto.render(shown_t, styles, look, device=device)  # boil 0's frame t: the loss to reach
        h, w = a.image.shape[:2]
        size = (w, h)
        motion = FlowCache(shot.flow_folder()).get_or_compute(
            r.input_hash(prev), r.input_hash(t), size, lambda: fit(shown_prev, size), lambda: fit(shown_t, size))
    target = warp(a.image, motion.backward)
    mask = motion.mask
    init = np.where(mask[..., None] > 0.5, target, fit(shown_t, size)).astype(np.float32)
    guides = impasto.Guides(temporal=(impasto.Temporal(target, mask, temporal_weight(1.0)),))
    c = impasto.render(shown_t, styles, look, device=device, init=init, guides=guides)
    final0 = b.history[-1].loss
    curve = [p.loss for p in c.history]

    def reach(factor: float) -> int | None:
        return next((p.iteration for p in c.history if p.loss <= factor * final0), None)

    ref_curve = [p.loss for p in b.history]
    return {
        "frame": t, "from": prev, "iterations": look.iterations, "mask_trusted": float(mask.mean()),
        "boil0_final_loss": final0, "boil0_start_loss": ref_curve[0],
        "warped_start_loss": curve[0], "warped_final_loss": curve[-1],
        "warped_final_over_boil0": curve[-1] / final0,
        "iterations_to_boil0_final": reach(1.0), "iterations_to_1.05x": reach(1.05), "iterations_to_1.15x": reach(1.15),
        "boil0_iterations_to_1.05x": next((p.iteration for p in b.history if p.loss <= 1.05 * final0), None),
        "boil0_seconds": round(b.seconds, 2), "warped_seconds": round(c.seconds, 2),
        "paired_time_ratio": c.seconds / b.seconds if b.seconds else None,
        "warped_curve": [round(x, 2) for x in curve[:: max(1, len(curve) // 32)]],
        "boil0_curve": [round(x, 2) for x in ref_curve[:: max(1, len(ref_curve) // 32)]],
    }


def strips(paths: dict[str, Path], name: str, chunk: int, frames: int) -> dict[str, str]:
    """A contact strip (PNG) of 6 consecutive painted frames per setting, spanning the first seam, and one sheet
    with the plate on top and every setting below it."""
    start = max(0, min(chunk - STRIP // 2, frames - STRIP))
    rows, written = {}, {}
    first = load_shot(next(iter(paths.values())))
    chosen = first.frame_list()[start:start + STRIP]
    with PlateSource(first) as r:
        plate = [r.display(r.read_plate(n)) for n in chosen]
        size = paint_size(first, (plate[0].shape[1], plate[0].shape[0]))
        rows["plate"] = _row([fit(p, size) for p in plate])
        for s, p in paths.items():
            shot = load_shot(p)
            rows[s] = _row([fit(r.display(read_frame(shot.output_path(n))), size) for n in chosen])
    OUT.mkdir(parents=True, exist_ok=True)
    for s, row in rows.items():
        if s != "plate":
            written[s] = str(write_image(OUT / f"{name}_{s}_strip.png", row))
    gap = np.ones((4, rows["plate"].shape[1], 3), np.float32)
    sheet = np.concatenate([x for row in rows.values() for x in (row, gap)][:-1], axis=0)
    written["sheet"] = str(write_image(OUT / f"{name}_strips.png", sheet))
    written["frames"] = chosen
    written["rows"] = list(rows)
    return written


def _row(pictures: list[np.ndarray]) -> np.ndarray:
    gap = np.ones((pictures[0].shape[0], 2, 3), np.float32)
    return np.concatenate([x for p in pictures for x in (np.clip(p, 0, 1), gap)][:-1], axis=1)


# ------------------------------------------------------------------------------------------------ targets
def targets(clip: dict) -> dict:
    """Issue 25's targets against this clip's figures, per setting: each with its figure, its limit and whether it
    is met. Every boil > 0 setting: max_pair_ratio; boil 1 also its excess, style and time against boil 0's; boil
    0.5 whether its excess lies between boil 1's (same scheme and chunk) and boil 0's."""
    s = clip["settings"]
    b0 = s.get("boil0", {})
    x0 = b0.get("ewarp", {}).get("excess")
    l0 = b0.get("loss", {}).get("style")
    t0 = b0.get("time", {}).get("mean_s")
    out: dict[str, dict] = {}
    for name, d in s.items():
        st = d.get("setting", {})
        boil = st.get("boil", 0.0)
        if not boil:
            continue
        t: dict[str, dict] = {}
        e = d.get("ewarp", {})
        if e.get("max_pair_ratio") is not None:
            t["max_pair_ratio"] = _target(e["max_pair_ratio"], "<=", TARGETS["max_pair_ratio"])
        x, loss, secs = e.get("excess"), d.get("loss", {}).get("style"), d.get("time", {}).get("mean_s")
        if boil == 1.0:
            if x0 and x is not None:
                t["boil1_excess_fraction"] = _target(x / x0, "<=", TARGETS["boil1_excess_fraction"])
            if l0 and loss is not None:
                t["boil1_style_change"] = _target(abs(loss / l0 - 1.0), "<=", TARGETS["boil1_style_within"])
                t["boil1_style_change"]["signed"] = loss / l0 - 1.0
            if t0 and secs:
                t["boil1_time_ratio"] = _target(secs / t0, "<=", TARGETS["boil1_time_ratio"])
        else:
            one = s.get(name.replace(f"boil{boil:g}_", "boil1_", 1), {}).get("ewarp", {}).get("excess")
            if None not in (x0, one, x) and x0:
                t["between"] = {"figure": {"excess": x, "excess_fraction": x / x0},
                                "limit": f"between {one:.2f} and {x0:.2f}", "met": bool(one <= x <= x0)}
        out[name] = t
    return out


def _target(figure: float, op: str, limit: float) -> dict:
    return {"figure": figure, "limit": f"{op} {limit:g}", "met": bool(figure <= limit)}


NAMES = {"max_pair_ratio": "largest pair / median pair (E_warp)",
         "boil1_excess_fraction": "excess / boil 0's excess",
         "boil1_style_change": "style loss change vs boil 0",
         "between": "excess between boil 1's and boil 0's",
         "boil1_time_ratio": "time per frame / boil 0's (keyframes included)"}


def print_clip(name: str, clip: dict) -> None:
    st = clip["settings"]
    size = next((d["ewarp"].get("size") for d in st.values() if d.get("ewarp")), None)
    print(f"\n{name}: frames {clip.get('shot_frames')} at {size[0] if size else '?'}×{size[1] if size else '?'}, "
          f"{clip['iterations']} iterations, u {clip['u']}")
    print(f"  {'setting':<24}{'E_warp':>8}{'plate':>8}{'excess':>8}{'×b0':>7}{'max/med':>9}{'style':>11}{'×b0':>7}"
          f"{'s/frame':>9}{'×b0':>7}{'its':>6}   seams/inside")
    b0 = st.get("boil0", {})
    for s, d in st.items():
        e, loss, t = d.get("ewarp", {}), d.get("loss", {}), d.get("time", {})
        rel = lambda a, b: f"{a / b:7.2f}" if a is not None and b else "      -"
        seams = e.get("seams")
        seam = (f"{seams['seam_painted_mean']:.2f}/{seams['inside_painted_median']:.2f} = {_f(seams['ratio'])}"
                if seams else "")
        print(f"  {s:<24}{_f(e.get('painted')):>8}{_f(e.get('plate')):>8}{_f(e.get('excess')):>8}"
              f"{rel(e.get('excess'), b0.get('ewarp', {}).get('excess'))}{_f(e.get('max_pair_ratio')):>9}"
              f"{_e(loss.get('style')):>11}{rel(loss.get('style'), b0.get('loss', {}).get('style'))}"
              f"{_f(t.get('mean_s'), 1):>9}{rel(t.get('mean_s'), b0.get('time', {}).get('mean_s'))}"
              f"{_f(t.get('iterations_mean'), 0):>6}   {seam}")
    w = clip.get("warped_start")
    if w:
        print(f"  warped start (frame {w['frame']} from boil 0's {w['from']} warped, boil 1's term): boil 0's final "
              f"{w['boil0_final_loss']:.3e} reached at iteration {w['iterations_to_boil0_final']} "
              f"(1.05×: {w['iterations_to_1.05x']}) of {w['iterations']}; final {w['warped_final_over_boil0']:.2f}× boil 0's")
    for setting, ts in clip.get("targets", {}).items():
        for k, t in ts.items():
            if k == "between":
                fig = f"{_f(t['figure']['excess'])} ({100 * t['figure']['excess_fraction']:.0f} % of boil 0's)"
            elif k == "boil1_excess_fraction":
                fig = f"{100 * t['figure']:.0f} %"
            elif k == "boil1_style_change":
                fig = f"{100 * t['signed']:+.0f} %"
            else:
                fig = f"{t['figure']:.2f}"
            print(f"  target {setting} {NAMES.get(k, k)}: {fig} {t.get('limit', '')} -> {'met' if t['met'] else 'MISSED'}")


def _e(x: float | None) -> str:
    return "-" if x is None else f"{x:.3e}"


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


# ------------------------------------------------------------------------------------------------ main
def _numbers(kind: type, text: str) -> list:
    return [kind(x) for x in text.split(",") if x]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=None, help="frames of each clip (default 24; --quick 12)")
    p.add_argument("--edge", type=int, default=None, help="paint long edge in px (default 256; --quick 128)")
    p.add_argument("--iterations", type=int, default=None, help="iterations per frame (default 256; --quick 128)")
    p.add_argument("--u", type=float, default=4.0, help="unrealness u (default 4)")
    p.add_argument("--chunks", type=lambda t: _numbers(int, t), default=None,
                   help="comma-separated frames per chunk at boil > 0 (default 12; --quick 6)")
    p.add_argument("--chunk", type=int, default=None, help="one chunk size (the same as --chunks N)")
    p.add_argument("--boils", type=lambda t: _numbers(float, t), default=[0.5, 1.0],
                   help="comma-separated boils above 0 (default 0.5,1)")
    p.add_argument("--schemes", type=lambda t: [x for x in t.split(",") if x], default=list(SCHEMES),
                   help="comma-separated: forward (issue 16, the look's count), two-sided (issue 25, iterations auto)")
    p.add_argument("--pull", type=int, default=None, help="temporal.pull (default: the shot file's)")
    p.add_argument("--quick", action="store_true", help="12 frames, 128 px, 128 iterations, chunk 6")
    p.add_argument("--clips", default=",".join(CLIP_NAMES), help="comma-separated clips of opencv-doc's examples")
    p.add_argument("--settings", default=None,
                   help="which settings to render now, e.g. boil0,boil1_two-sided_c6,from_previous (default: boil 0 "
                   "and every boil × scheme × chunk; the figures use every version rendered so far)")
    p.add_argument("--processes", type=int, default=1,
                   help="render each setting with this many 'impasto render' processes at once (default 1: in this one)")
    p.add_argument("--kill-after", type=int, default=0, metavar="FRAMES",
                   help="at boil > 0, kill one render process once this many frames are done, then resume the shot")
    p.add_argument("--warped-start", action="store_true", help="also the warped-start iterations figure (issue 16)")
    p.add_argument("--fresh", action="store_true", help="delete earlier renders of these settings first")
    p.add_argument("--device", default="cpu")
    p.add_argument("--report", type=Path, default=None, metavar="JSON",
                   help="render nothing: print an earlier run's JSON, its targets recomputed (and written back)")
    p.add_argument("--json", type=Path, default=None, help="default bench/results/temporal_<device>_<settings>.json")
    a = p.parse_args(argv)
    quick = {"frames": 12, "edge": 128, "iterations": 128, "chunks": [6]}
    full = {"frames": 24, "edge": 256, "iterations": 256, "chunks": [12]}
    if a.chunk is not None:
        a.chunks = [a.chunk]
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    bad = [x for x in a.schemes if x not in SCHEMES]
    if bad:
        p.error(f"--schemes takes {' and '.join(SCHEMES)}, not {bad[0]}")
    if a.frames < STRIP or min(a.chunks) < 2 or any(not 0 < b <= 1 for b in a.boils):
        p.error(f"--frames must be at least {STRIP}, every chunk at least 2 and every boil in (0, 1]")
    if a.settings is None:
        a.settings = ",".join(st.name for st in settings(a) if not st.from_previous)
    return a


def run_clip(clip: Path, a: argparse.Namespace, tag: str) -> dict:
    name = clip.stem.lower()
    work = OUT / f"{name}_{tag}"
    work.mkdir(parents=True, exist_ok=True)
    paths = make_shots(clip, work, a)
    wanted = set(a.settings.split(","))
    if a.fresh:
        for s in wanted & set(paths):
            forget(load_shot(paths[s]))
    out: dict = {"clip": str(clip), "frames": a.frames, "shot_frames": load_shot(paths["boil0"]).frames, "edge": a.edge,
                 "iterations": a.iterations, "u": a.u, "chunks": a.chunks, "shots": {s: str(p) for s, p in paths.items()},
                 "settings": {}}
    for st in settings(a):
        d: dict = {"setting": {"boil": st.boil, "scheme": st.scheme, "chunk": st.chunk, "from_previous": st.from_previous}}
        if st.name in wanted:
            print(f"  rendering {name} {st.name} ...", flush=True)
            d["run"] = render_setting(paths[st.name], st.name, a.processes, a.kill_after if st.boil > 0 else 0)
        done = read_manifest(load_shot(paths[st.name]).manifest_path()).done()
        if len(done) < a.frames:
            if st.name in wanted:
                print(f"  {name} {st.name}: {len(done)} of {a.frames} frames painted; left out of the figures", flush=True)
            continue
        d["time"] = times(paths[st.name])
        d["ewarp"] = ewarp(paths[st.name], st.chunk, st.boil, st.scheme)
        out["settings"][st.name] = d
    complete = {s: paths[s] for s in out["settings"]}
    if complete:
        for s, loss in style_losses(complete, a.edge, a.device).items():
            out["settings"][s]["loss"] = loss
        out["strips"] = strips(complete, f"{name}_{tag}", min(a.chunks), a.frames)
        out["charts"] = {s: str(chart(out["settings"][s]["ewarp"], OUT / f"{name}_{tag}_{s}_ewarp.png", f"{name} {s}"))
                         for s in complete}
    if a.warped_start and "boil0" in complete:
        out["warped_start"] = warped_start(paths["boil0"], a.edge, min(min(a.chunks) // 2, a.frames - 1) or 1, a.device)
    out["targets"] = targets(out)
    return out


def chart(e: dict, path: Path, title: str) -> Path:
    """A PNG bar chart of E_warp per pair: the painted frames' (blue) over the plate's (grey), the pairs into a
    keyframe (seams) marked red, the median painted pair as a line. Drawn with Pillow."""
    from PIL import Image, ImageDraw

    pairs = e["per_pair"]
    bar, gap, top, left, height = 14, 4, 30, 44, 220
    width = max(left + len(pairs) * (bar + gap) + 16, 380)
    img = Image.new("RGB", (width, top + height + 30), "white")
    d = ImageDraw.Draw(img)
    most = max([p[2] for p in pairs] + [p[3] for p in pairs] + [1e-6]) * 1.1
    y = lambda v: top + height - round(height * v / most)
    keys = set(e.get("keyframes", [])[1:])
    for i, (a, b, painted, plate) in enumerate(pairs):
        x = left + i * (bar + gap)
        d.rectangle([x, y(painted), x + bar, top + height], fill=(200, 40, 40) if b in keys else (60, 100, 200))
        d.rectangle([x + 3, y(plate), x + bar - 3, top + height], fill=(150, 150, 150))
        if i % 2 == 0:
            d.text((x, top + height + 4), str(b)[-3:], fill="black")
    med = statistics.median(p[2] for p in pairs) if pairs else 0.0
    d.line([left, y(med), width - 16, y(med)], fill=(0, 0, 0), width=1)
    d.line([left - 2, top, left - 2, top + height], fill="black")
    d.text((4, top - 4), f"{most / 1.1:.1f}", fill="black")
    d.text((4, top + height - 8), "0", fill="black")
    ratio = e.get("max_pair_ratio")
    d.text((left, 2), f"{title}: E_warp per pair" + (f", max/median {ratio:.2f}" if ratio else ""), fill="black")
    d.text((left, 14), "blue painted, red into a keyframe, grey plate; line: median", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def report(path: Path) -> int:
    """Print an earlier run's figures with the targets recomputed from them, and write the targets back."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"Cannot read bench results '{path}' ({exc}).", file=sys.stderr)
        return 1
    results["targets"] = TARGETS
    for name, clip in results.get("clips", {}).items():
        clip["targets"] = targets(clip)
        print_clip(name, clip)
    atomic_write_text(path, json.dumps(results, indent=1, default=_jsonable) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if a.report is not None:
        return report(a.report)
    if not STYLE.is_file():
        print(f"The style image {STYLE} is missing; this bench paints in its style, so put it there.", file=sys.stderr)
        return 1
    clips = [CLIPS / c for c in a.clips.split(",") if c]
    absent = [c for c in clips if not c.is_file()]
    if absent:
        print(f"{absent[0]} is missing; run 'make bench-setup' (it installs Debian's opencv-doc).", file=sys.stderr)
        return 1
    tag = (f"f{a.frames}_e{a.edge}_i{a.iterations}_u{a.u:g}_c{'-'.join(map(str, a.chunks))}"
           + (f"_p{a.pull}" if a.pull is not None else "")
           + (f"_x{a.processes}" if a.processes > 1 else "") + (f"_k{a.kill_after}" if a.kill_after else ""))
    results = {"bench": "temporal", "issue": 25, "settings": {k: getattr(a, k) for k in
               ("frames", "edge", "iterations", "u", "chunks", "boils", "schemes", "pull", "quick", "device")},
               "reduced_from": {"frames": 24, "edge": 256, "iterations": 256, "u": 4}, "targets": TARGETS,
               "machine": machine(), "code": code_state(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "clips": {}}
    t0 = time.perf_counter()
    path = a.json or RESULTS / f"temporal_{a.device}_{tag}.json"
    try:
        for clip in clips:
            print(f"{clip.name}:", flush=True)
            results["clips"][clip.name] = run_clip(clip, a, tag)
            save(results, path, t0)  # after each clip: a run cut short keeps the clips it finished
            print_clip(clip.name, results["clips"][clip.name])
    except ImpastoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\nwrote {path}")
    return 0


def save(results: dict, path: Path, t0: float) -> None:
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["machine"]["loaded"] = max(results["machine"]["loadavg_start"][0], results["machine"]["loadavg_end"][0]) \
        > 0.5 * (os.cpu_count() or 1)
    atomic_write_text(path, json.dumps(results, indent=1, default=_jsonable) + "\n")


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(type(x).__name__)


if __name__ == "__main__":
    sys.exit(main())
