"""`impasto status SHOT.toml`: done, damaged, failed and missing frames of the shot's version, time per frame,
flicker, and E_warp of every version beside the plate's own."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from impasto.commands.common import app, command_errors
from impasto.commands.render import _rel
from impasto.progress import duration as _dur
from impasto.errors import UsageError
from impasto.io.sequence import format_frame_range as fr
from impasto.shot.config import load_shot
from impasto.shot.status import Ewarp, ShotStatus, shot_status


@app.command()
def status(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml).", show_default=False),
    flicker: bool = typer.Option(True, "--flicker/--no-flicker", help="Measure frame-to-frame flicker and E_warp (reads every painted and plate frame; the plate's optical flow comes from the shot's flow cache, computed once)."),
    versions: str = typer.Option("all", "--versions", help="Versions whose E_warp to show: all (every version with a manifest), current, or numbers such as 1,2."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Where a shot's render stands: frames done (each checked on disk: size and header), damaged, failed, plate \
missing and still to render, time per frame, flicker (dissolve frames, black plate frames and damaged frames \
left out; the worst pairs named), and E_warp (Lai et al. 2018: mean absolute difference, 0-255, between painted \
frame t and frame t-1 carried onto it by the plate's optical flow, over pixels the flow trusts, at the paint size) \
of each version beside the plate's own, the excess (painted minus plate), the boil and the worst pairs."""
    with command_errors():
        shot = load_shot(shot_file)
        s = shot_status(shot, flicker=flicker, versions=_versions(versions, shot.output.version))
    fl = s.flicker
    if as_json:
        typer.echo(json.dumps({
            "shot": s.shot, "version": s.version, "frames": fr(s.frames), "done": fr(s.done), "failed": {str(k): v for k, v in s.failed.items()},
            "old_look": fr(s.stale), "to_render": fr(s.todo), "plate_missing": fr(s.missing_plates),
            "damaged": {str(k): v for k, v in s.damaged.items()},
            "seconds_per_frame": s.per_frame, "eta_seconds": s.eta,
            "iterations": {"median": s.median_iterations(), "keyframes": s.median_iterations(True),
                           "between": s.median_iterations(False), "frames": len(s.iterations)},
            "learned": {str(k): v for k, v in s.learned.items()}, "output": s.output, "manifest": s.manifest,
            "flicker": None if fl is None else {
                "painted": fl.painted, "plate": fl.plate, "ratio": fl.ratio, "pairs": fl.pairs,
                "worst": [{"frames": [a, b], "painted": p, "plate": q} for a, b, p, q in fl.worst],
                "left_out": {k: fr(v) for k, v in fl.left_out.items()}},
            "flicker_note": s.flicker_note,
            "ewarp": None if s.ewarp is None else {
                "size": list(s.ewarp.size), "versions": [ve.as_dict() for ve in s.ewarp.versions]},
            "ewarp_note": s.ewarp_note,
        }, indent=1))
        return
    rows = [
        (f"{s.shot} v{s.version:03d}", _rel(s.output)),
        ("frames", f"{fr(s.frames)} ({len(s.frames)})"),
        ("done", f"{len(s.done)}" + (f": {fr(s.done)}" if s.done else "")),
        ("failed", f"{len(s.failed)}" + (f": {fr(list(s.failed))}" if s.failed else "")),
    ]
    if s.damaged:
        rows.append(("damaged", (f"{len(s.damaged)}: {fr(list(s.damaged))} (painted, but the file is not what was written; "
                                 "render paints them again)")))
    rows += [
        ("to render", f"{len(s.todo)}" + (f": {fr(s.todo)}" if s.todo else "")),
    ]
    if s.stale:
        rows.append(("old look", f"{len(s.stale)}: {fr(s.stale)} (render --force, or shot version-up)"))
    if s.missing_plates:
        rows.append(("plate missing", (f"{len(s.missing_plates)}: {fr(s.missing_plates)} (not painted; render paints them "
                                       "once the plate frames are there)")))
    left = len(s.todo) + len(s.failed) + len(s.stale) + len(s.damaged)
    rows.append(("time/frame", f"{_dur(s.per_frame)} (median of {len(s.seconds)})" + (f", about {_dur(s.eta)} for the {left} left" if s.eta and left else "")))
    if s.iterations:
        parts = [f"median {s.median_iterations():g} over {len(s.iterations)} frames"]
        if s.keyframes and len(s.keyframes) < len(s.iterations):
            parts.append(f"keyframes {s.median_iterations(True):g}, between them {s.median_iterations(False):g}")
        rows.append(("iterations", "; ".join(parts)))
    if s.learned:
        painters = sorted(set(s.learned.values()))
        rows.append(("learned", f"{len(s.learned)} frames ({fr(sorted(s.learned))}) painted by the learned "
                                f"painter{'s' if len(painters) > 1 else ''} {', '.join(painters)}"))
    if fl is not None:
        ratio = f" (×{fl.ratio:.2f} the plate's)" if fl.ratio is not None else ""
        rows.append(("flicker", f"painted {fl.painted:.4f}, plate {fl.plate:.4f}{ratio}: mean abs. difference of "
                                f"{fl.pairs} consecutive frame {'pair' if fl.pairs == 1 else 'pairs'}, display-referred 0-1"))
        if fl.worst:
            rows.append(("worst pairs", ", ".join(f"{a}-{b} ({p:.4f}, plate {q:.4f})" for a, b, p, q in fl.worst)))
        if fl.left_out:
            rows.append(("not measured", "; ".join(f"{k} {fr(v)}" for k, v in fl.left_out.items())))
    elif s.flicker_note:
        rows.append(("flicker", s.flicker_note))
    rows += _ewarp_rows(s)
    for n, msg in sorted(s.damaged.items())[:10]:
        rows.append((f"  {n}", f"damaged: {msg}"))
    for n, msg in sorted(s.failed.items())[:10]:
        rows.append((f"  {n}", msg))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k:<{width}}  {v}")


def _versions(text: str, current: int) -> list[int] | None:
    """--versions as a list (None: every version with a manifest)."""
    text = text.strip().lower()
    if text == "all":
        return None
    if text == "current":
        return [current]
    try:
        found = sorted({int(p.strip().lower().lstrip("v")) for p in text.split(",") if p.strip()})
    except ValueError:
        found = []
    if not found or min(found) < 1:
        raise UsageError(f"--versions '{text}' is not all, current or version numbers such as 1,2.")
    return found


def _ewarp_rows(s: ShotStatus) -> list[tuple[str, str]]:
    """The E_warp lines: what is measured, then one line per version (the worst pairs after it)."""
    if s.ewarp is None:
        return [("E_warp", s.ewarp_note)] if s.ewarp_note else []
    ew: Ewarp = s.ewarp
    rows = [("E_warp", (f"0-255, painted frame t against frame t-1 carried by the plate's flow, at the paint size "
                        f"{ew.size[0]}×{ew.size[1]}; excess = painted − plate"))]
    for ve in ew.versions:
        this = " (this)" if ve.version == s.version else ""
        boil = "" if ve.boil is None else "; boil " + "/".join(f"{b:g}" for b in ve.boil)
        if not ve.pairs:
            rows.append((f"  v{ve.version:03d}{this}", f"no two consecutive painted frames{boil}"))
            continue
        n = len(ve.pairs)
        rows.append((f"  v{ve.version:03d}{this}", (f"painted {ve.painted:.2f}, plate {ve.plate:.2f}, excess "
                                                     f"{ve.excess:+.2f} over {n} {'pair' if n == 1 else 'pairs'}{boil}")))
        rows.append(("    worst", ", ".join(f"{a}-{b} ({p - q:+.2f}: {p:.2f}, plate {q:.2f})" for a, b, p, q in ve.worst())))
        if ve.left_out:
            rows.append(("    not measured", "; ".join(f"{k} {fr(v)}" for k, v in ve.left_out.items())))
    return rows
