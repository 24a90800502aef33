"""Does a 1/4-size preview predict the final render?  (issue 4, "Done when")

For each content/style pair: renders the final at u and at u ± 0.25, and 1/4-size previews whose ratio is the
final's times scale**k for several k (the default k's preview goes through `impasto.preview.preview`, the
product path). Prints the style-loss fraction of preview and final, the Gram style distance between the
final downsampled to the preview's size and the preview, and the same distance between the finals at u and
u ± 0.25. The preview predicts the final when its distance is below the quarter-step distances.
Optionally (--crop-check) compares a full-size crop with the same region of the final, for the crop ratio
rule in impasto/preview.py against keeping the final's ratio unchanged.

Uses /work/shared/data/images; not part of the tests. On the 2-core CPU the default (final 384 px,
preview 96 px, 96 iterations, two pairs) takes about half an hour.

    python bench/preview_predicts.py [--final 384] [--iterations 96] [--u 4] [--out bench/out]
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

from impasto.calibrate import calibrate, gram_signature, signature_distance  # noqa: E402
from impasto.controls import DEFAULT_K, style_ratio  # noqa: E402
from impasto.engine import fit_size, load_rgb, render  # noqa: E402
from impasto.imageio import write_image  # noqa: E402
from impasto.look import Look  # noqa: E402
from impasto.preview import crop_ratio, final_content, preview, style_fraction  # noqa: E402

IMAGES = Path("/work/shared/data/images")
PAIRS = [("tubingen.jpg", "starry_night.jpg"), ("golden_gate.jpg", "the_scream.jpg")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--final", type=int, default=384, help="final long edge (px)")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--iterations", type=int, default=96)
    ap.add_argument("--u", type=float, default=4.0)
    ap.add_argument("--ks", default="0,0.5,1,1.5,2,2.5", help="k values for the extra previews")
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--first", type=int, default=0, help="index of the first pair (to split the work over processes)")
    ap.add_argument("--crop-check", action="store_true")
    ap.add_argument("--calibrate", default="", help="sizes for impasto.calibrate on each pair, e.g. 64,128,256")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="load the finals from --out if there (their style fraction is then unknown)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ks = [float(v) for v in args.ks.split(",")]
    report = {"final": args.final, "scale": args.scale, "iterations": args.iterations, "u": args.u,
              "default_k": DEFAULT_K, "pairs": []}
    print(f"final {args.final} px, preview {args.scale:g} x, {args.iterations} iterations, u {args.u:g}, "
          f"default k {DEFAULT_K:g}, CPU", flush=True)
    path = args.out / f"preview_predicts{args.first or ''}_scale{args.scale:g}.json"
    for c_name, s_name in PAIRS[args.first: args.first + args.pairs]:
        report["pairs"].append(run_pair(IMAGES / c_name, IMAGES / s_name, args, ks))
        path.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path}")


def run_pair(content: Path, style: Path, args: argparse.Namespace, ks: list[float]) -> dict:
    tag = f"{content.stem}_x_{style.stem}"
    print(f"\n== {tag}", flush=True)
    c_rgb, s_rgb = load_rgb(content, "content"), load_rgb(style, "style")
    look = Look(u=args.u, iterations=args.iterations, size=args.final, seed=args.seed, k=DEFAULT_K)
    finals, fracs, secs = {}, {}, {}
    for du in (0.0, -0.25, 0.25):
        saved = args.out / f"{tag}_final_u{args.u + du:g}.png"
        if args.reuse and saved.exists():
            from impasto.imageio import read_image

            finals[du], fracs[du], secs[du] = read_image(saved), float("nan"), float("nan")
            continue
        t = time.perf_counter()
        res = render(c_rgb, s_rgb, look.model_copy(update={"u": args.u + du}), device="cpu")
        finals[du], fracs[du], secs[du] = res.image, style_fraction(res), time.perf_counter() - t
        write_image(args.out / f"{tag}_final_u{args.u + du:g}.png", res.image, {})
        print(f"final u {args.u + du:g}: style fraction {fracs[du]:.4f} ({secs[du]:.0f} s)", flush=True)
    final_ratio = style_ratio(args.u, max(finals[0.0].shape[:2]), DEFAULT_K)

    # the product path: impasto.preview.preview with the default k
    pr = preview(c_rgb, s_rgb, look, scale=args.scale, device="cpu")
    edge = max(pr.result.image.shape[:2])
    net = {"network": look.network, "weights": None, "pooling": look.pooling, "device": "cpu"}
    f_sig = gram_signature(finals[0.0], edge, **net)
    d_quarter = {du: signature_distance(gram_signature(finals[du], edge, **net), f_sig) for du in (-0.25, 0.25)}
    d_default = signature_distance(gram_signature(pr.result.image, edge, **net), f_sig)
    write_image(args.out / f"{tag}_preview{args.scale:g}_k{DEFAULT_K:g}.png", pr.result.image, {})
    predicted, actual = pr.predicted_final_seconds, secs[0.0]
    print(f"preview {edge} px (k {DEFAULT_K:g}): style fraction {style_fraction(pr.result):.4f}, "
          f"distance to final {d_default:.4f}; finals u±0.25: {d_quarter[-0.25]:.4f} / {d_quarter[0.25]:.4f}; "
          f"predicted final time {predicted:.0f} s, actual {actual:.0f} s", flush=True)

    small = max(32, edge * 2 // 3)
    f_small = gram_signature(finals[0.0], small, **net)
    d_quarter_small = {du: signature_distance(gram_signature(finals[du], small, **net), f_small) for du in (-0.25, 0.25)}
    print(f"  at {small} px: finals u±0.25 distance {d_quarter_small[-0.25]:.4f} / {d_quarter_small[0.25]:.4f}", flush=True)
    per_k = []
    for k in ks:
        ratio = final_ratio * args.scale**k
        p_look = look.model_copy(update={"size": edge, "raw_ratio": True, "u": math.log10(ratio)})
        res = render(c_rgb, s_rgb, p_look, device="cpu")
        d = signature_distance(gram_signature(res.image, edge, **net), f_sig)
        # the same at 2/3 of the preview's size, where both images are downsampled alike
        d_small = signature_distance(gram_signature(res.image, small, **net), f_small)
        per_k.append({"k": k, "style_fraction": style_fraction(res), "distance": d, "distance_small": d_small})
        write_image(args.out / f"{tag}_preview{args.scale:g}_k{k:g}.png", res.image, {})
        print(f"  preview k {k:<4g}: style fraction {style_fraction(res):.4f}  distance to final {d:.4f} "
              f"(at {small} px {d_small:.4f})", flush=True)

    out = {
        "pair": tag, "final_size": list(finals[0.0].shape[:2]), "preview_size": list(pr.result.image.shape[:2]),
        "final_style_fraction": {f"{args.u + du:g}": fracs[du] for du in fracs},
        "preview_default_k": {"k": DEFAULT_K, "style_fraction": style_fraction(pr.result), "distance": d_default},
        "finals_quarter_step_distance": {f"{args.u + du:g}": d_quarter[du] for du in d_quarter},
        "finals_quarter_step_distance_small": {f"{args.u + du:g}": d_quarter_small[du] for du in d_quarter_small},
        "preview_closer_than_quarter_step": bool(d_default < min(d_quarter.values())),
        "previews_by_k": per_k, "final_seconds": actual, "predicted_final_seconds": predicted,
    }
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
    rmse = lambda a: float(np.sqrt(np.mean((a - region) ** 2)))  # noqa: E731
    print(f"  crop {side}x{side}: area rule ratio {crop_ratio(look, (fh, fw), (side, side)):.3g} distance {d_rule:.4f} "
          f"rmse {rmse(pr.result.image):.4f}; final's ratio unchanged distance {d_same:.4f} rmse {rmse(res_same.image):.4f}",
          flush=True)
    return {"side": side, "area_rule": {"distance": d_rule, "rmse": rmse(pr.result.image)},
            "final_ratio_unchanged": {"distance": d_same, "rmse": rmse(res_same.image)}}


if __name__ == "__main__":
    main()
