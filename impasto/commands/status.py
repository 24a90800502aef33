"""`impasto status SHOT.toml`: done, damaged, failed and missing frames of the shot's version, time per frame, flicker."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from impasto.commands.common import app, fail
from impasto.commands.render import _dur, _rel
from impasto.errors import ImpastoError
from impasto.io.sequence import format_frame_range as fr
from impasto.shot.config import load_shot
from impasto.shot.status import shot_status


@app.command()
def status(
    shot_file: Path = typer.Argument(..., help="Shot file (.toml).", show_default=False),
    flicker: bool = typer.Option(True, "--flicker/--no-flicker", help="Measure frame-to-frame flicker (reads every painted and plate frame)."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Where a shot's render stands: frames done (each checked on disk: size and header), damaged, failed, plate \
missing and still to render, time per frame, and flicker (dissolve frames, black plate frames and damaged frames \
left out; the worst pairs named)."""
    try:
        shot = load_shot(shot_file)
        s = shot_status(shot, flicker=flicker)
    except ImpastoError as exc:
        fail(exc)
    fl = s.flicker
    if as_json:
        typer.echo(json.dumps({
            "shot": s.shot, "version": s.version, "frames": fr(s.frames), "done": fr(s.done), "failed": {str(k): v for k, v in s.failed.items()},
            "old_look": fr(s.stale), "to_render": fr(s.todo), "plate_missing": fr(s.missing_plates),
            "damaged": {str(k): v for k, v in s.damaged.items()},
            "seconds_per_frame": s.per_frame, "eta_seconds": s.eta, "output": s.output, "manifest": s.manifest,
            "flicker": None if fl is None else {
                "painted": fl.painted, "plate": fl.plate, "ratio": fl.ratio, "pairs": fl.pairs,
                "worst": [{"frames": [a, b], "painted": p, "plate": q} for a, b, p, q in fl.worst],
                "left_out": {k: fr(v) for k, v in fl.left_out.items()}},
            "flicker_note": s.flicker_note,
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
    for n, msg in sorted(s.damaged.items())[:10]:
        rows.append((f"  {n}", f"damaged: {msg}"))
    for n, msg in sorted(s.failed.items())[:10]:
        rows.append((f"  {n}", msg))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k:<{width}}  {v}")
