"""Does a 1/4-size preview predict the final render?  (issue 4, "Done when")

For each content/style pair and each of u, u - 0.25 and u + 0.25, the product path: `impasto.preview.preview`
at --scale, then the final rendered from the look the preview writes (coarse-to-fine from the preview's size,
grown from the preview image, finer levels anchored to it). Prints the style-loss fraction of preview and
final, the Gram style distance between the preview and the final downsampled to the preview's size, and the
same distance between the finals at u and u ± 0.25. The preview predicts the final when its distance is below
both quarter-step distances. --single adds finals painted from the photo in one pass, against the same preview
(the old path, for comparison); --crop-check compares a full-size crop with the same region of the final.

Uses /work/shared/data/images; not part of the tests. On the 2-core CPU the default (final 384 px, preview
96 px, 96 iterations, two pairs) takes about 10 minutes; --final 512 --iterations 128 --single about 30.

    python bench/preview_predicts.py [--final 384] [--iterations 96] [--u 4] [--single] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impasto.lookdev.calibrate import calibrate, gram_signature, signature_distance
from impasto.objective.controls import DEFAULT_K, style_ratio
from impasto.io.tensors import fit_size, load_rgb
from impasto.api import render
from impasto.io.images import write_image
from impasto.look import Look
from impasto.lookdev.preview import crop_ratio, final_content, preview, style_fraction

IMAGES = Path("/work/shared/data/images")
PAIRS = [("tubingen.jpg", "starry_night.jpg"), ("golden_gate.jpg", "the_scream.jpg")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--final", type=int, default=384, help="final long edge (px)")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--iterations", type=int, default=96)
    ap.add_argument("--u", type=float, default=4.0)
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--first", type=int, default=0, help="index of the first pair (to split the work over processes)")
    ap.add_argument("--crop-check", action="store_true")
    ap.add_argument("--calibrate", default="", help="sizes for impasto.calibrate on each pair, e.g. 64,128,256")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--anchor", type=float, default=0.0, help="the look's anchor (0: the preview's default)")
    ap.add_argument("--single", action="store_true", help="also paint single-scale finals from the photo (3 more full renders)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"final": args.final, "scale": args.scale, "iterations": args.iterations, "u": args.u,
              "default_k": DEFAULT_K, "pairs": []}
    print(f"final {args.final} px, preview {args.scale:g} x, {args.iterations} iterations, u {args.u:g}, "
          f"default k {DEFAULT_K:g}, CPU", flush=True)
    path = args.out / f"preview_predicts{args.first or ''}_scale{args.scale:g}_anchor{args.anchor:g}.json"
    for c_name, s_name in PAIRS[args.first: args.first + args.pairs]:
        report["pairs"].append(run_pair(IMAGES / c_name, IMAGES / s_name, args))
        path.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path}")


def run_pair(content: Path, style: Path, args: argparse.Namespace) -> dict:
    tag = f"{content.stem}_x_{style.stem}"
    print(f"\n== {tag}", flush=True)
    c_rgb, s_rgb = load_rgb(content, "content"), load_rgb(style, "style")
    look = Look(u=args.u, iterations=args.iterations, size=args.final, seed=args.seed, k=DEFAULT_K, anchor=args.anchor)
    net = {"network": look.network, "weights": None, "pooling": look.pooling, "device": "cpu"}

    # The product path: impasto preview, then the final rendered from the look it writes (grown from the preview).
    previews, finals, fracs, secs = {}, {}, {}, {}
    for du in (0.0, -0.25, 0.25):
        u = args.u + du
        t = time.perf_counter()
        pr = preview(c_rgb, s_rgb, look.model_copy(update={"u": u}), scale=args.scale, device="cpu")
        p_path = write_image(args.out / f"{tag}_preview{args.scale:g}_u{u:g}.png", pr.result.image, {})
        t_prev = time.perf_counter() - t
        final_look = pr.final_look.model_copy(update={"preview": str(p_path)} if pr.levels else {})
        t = time.perf_counter()
        res = render(c_rgb, s_rgb, final_look, device="cpu")
        secs[du] = (t_prev, time.perf_counter() - t, pr.predicted_final_seconds)
        previews[du], finals[du] = pr, res.image
        fracs[du] = (style_fraction(pr.result), style_fraction(res))
        write_image(args.out / f"{tag}_final_u{u:g}.png", res.image, {})
        print(f"u {u:g}: preview {t_prev:.0f} s (style fraction {fracs[du][0]:.3f}); final ({final_look.levels} levels, "
              f"anchor {final_look.anchor:g}) {secs[du][1]:.0f} s, predicted {secs[du][2]:.0f} s "
              f"(style fraction {fracs[du][1]:.3f})", flush=True)
    edge = max(previews[0.0].result.image.shape[:2])
    f_sig = gram_signature(finals[0.0], edge, **net)
    d_quarter = {du: signature_distance(gram_signature(finals[du], edge, **net), f_sig) for du in (-0.25, 0.25)}
    d_preview = signature_distance(gram_signature(previews[0.0].result.image, edge, **net), f_sig)
    closer = d_preview < min(d_quarter.values())
    print(f"preview {edge} px -> final downsampled: Gram distance {d_preview:.4f}; finals at u ± 0.25: "
          f"{d_quarter[-0.25]:.4f} / {d_quarter[0.25]:.4f} -> the preview is "
          f"{'closer than' if closer else 'NOT closer than'} a quarter-step of u", flush=True)
    out = {
        "pair": tag, "final_size": list(finals[0.0].shape[:2]), "preview_size": list(previews[0.0].result.image.shape[:2]),
        "final_levels": previews[0.0].final_look.levels if previews[0.0].levels else 1,
        "anchor": previews[0.0].final_look.anchor if previews[0.0].levels else 0.0,
        "style_fraction": {f"{args.u + du:g}": {"preview": fracs[du][0], "final": fracs[du][1]} for du in fracs},
        "preview_to_final_distance": d_preview,
        "finals_quarter_step_distance": {f"{args.u + du:g}": d_quarter[du] for du in d_quarter},
        "preview_closer_than_quarter_step": bool(closer),
        "seconds": {f"{args.u + du:g}": {"preview": v[0], "final": v[1], "predicted_final": v[2]} for du, v in secs.items()},
    }
    if args.single:
        out["single_scale"] = single_scale(c_rgb, s_rgb, look, previews[0.0].result.image, edge, net, tag, args)
    if args.crop_check:
        out["crop"] = crop_check(c_rgb, s_rgb, look, finals[0.0], net)
    if args.calibrate:
        sizes = [int(v) for v in args.calibrate.split(",")]
        cal = calibrate(c_rgb, s_rgb, look.model_copy(update={"iterations": min(args.iterations, 64)}),
                        sizes=sizes, device="cpu")
        out["calibration"] = cal.as_dict()
        print(f"  calibrate at {sizes}: k = {cal.k:g} "
              + ", ".join(f"k{c:g}: gram {cal.gram_distance[c]:.4f} frac {cal.fraction_spread[c]:.4f}" for c in cal.candidates),
              flush=True)
    return out


def single_scale(c_rgb: np.ndarray, s_rgb: np.ndarray, look: Look, prev: np.ndarray, edge: int, net: dict, tag: str,
                 args: argparse.Namespace) -> dict:
    """For comparison: finals painted from the photo in one pass at u and u ± 0.25, against the same preview."""
    finals, fracs, secs = {}, {}, {}
    for du in (0.0, -0.25, 0.25):
        t = time.perf_counter()
        res = render(c_rgb, s_rgb, look.model_copy(update={"u": args.u + du}), device="cpu")
        finals[du], fracs[du], secs[du] = res.image, style_fraction(res), time.perf_counter() - t
        write_image(args.out / f"{tag}_single_u{args.u + du:g}.png", res.image, {})
    f_sig = gram_signature(finals[0.0], edge, **net)
    d_quarter = {du: signature_distance(gram_signature(finals[du], edge, **net), f_sig) for du in (-0.25, 0.25)}
    d_prev = signature_distance(gram_signature(prev, edge, **net), f_sig)
    print(f"single-scale finals: preview -> final {d_prev:.4f}; u ± 0.25: {d_quarter[-0.25]:.4f} / {d_quarter[0.25]:.4f}; "
          f"style fraction {fracs[0.0]:.3f}; {secs[0.0]:.0f} s", flush=True)
    return {"preview_to_final_distance": d_prev, "finals_quarter_step_distance": {f"{args.u + du:g}": d for du, d in d_quarter.items()},
            "style_fraction": fracs[0.0], "seconds": secs[0.0]}


def crop_check(c_rgb: np.ndarray, s_rgb: np.ndarray, look: Look, final: np.ndarray, net: dict) -> dict:
    """A centred full-size crop, rendered with the crop rule and with the final's ratio, against the final's region."""
    h, w = final.shape[:2]
    side = min(h, w) // 2
    y0, x0 = (h - side) // 2, (w - side) // 2
    region = final[y0:y0 + side, x0:x0 + side]
    pr = preview(c_rgb, s_rgb, look, crop=(x0, y0, x0 + side, y0 + side), device="cpu")
    piece = final_content(c_rgb, look)[y0:y0 + side, x0:x0 + side]
    fh, fw = fit_size(*c_rgb.shape[:2], look.size)
    same = look.model_copy(update={"size": side, "raw_ratio": True,
                                   "u": math.log10(style_ratio(look.u, max(fh, fw), look.k)),
                                   "style_scale": look.style_scale * max(fh, fw) / side})
    res_same = render(piece, s_rgb, same, device="cpu")
    r_sig = gram_signature(region, side, **net)
    d_rule = signature_distance(gram_signature(pr.result.image, side, **net), r_sig)
    d_same = signature_distance(gram_signature(res_same.image, side, **net), r_sig)
    rmse = lambda a: float(np.sqrt(np.mean((a - region) ** 2)))
    print(f"  crop {side}x{side}: area rule ratio {crop_ratio(look, (fh, fw), (side, side)):.3g} distance {d_rule:.4f} "
          f"rmse {rmse(pr.result.image):.4f}; final's ratio unchanged distance {d_same:.4f} rmse {rmse(res_same.image):.4f}",
          flush=True)
    return {"side": side, "area_rule": {"distance": d_rule, "rmse": rmse(pr.result.image)},
            "final_ratio_unchanged": {"distance": d_same, "rmse": rmse(res_same.image)}}


if __name__ == "__main__":
    main()
