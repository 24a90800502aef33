"""Make the pictures of the README and the docs (docs/images/*.jpg) with impasto itself.

    .venv/bin/python docs/make_pictures.py            # every picture but the studio screenshot
    .venv/bin/python docs/make_pictures.py --studio   # and re-encode the studio screenshot if it is too big
    .venv/bin/python docs/make_pictures.py --only boil_strip

Content: NASA's public-domain astronaut portrait (bundled with scikit-image); style: Van Gogh's The Starry Night
(public domain, bundled with impasto). Everything runs on the CPU with seed 0, through impasto's own API and CLI
(`impasto sweep`, `impasto shot init`, `impasto render`, `impasto status`). Sizes and iterations are the
constants below, kept small so the whole run takes about 10 minutes on an idle 2-core AVX2 AMD EPYC (2026-12-02);
each JPEG is written at the highest quality that keeps it under MAX_BYTES. The figures each step prints
(content losses, E_warp) are the ones the docs' captions quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MAX_BYTES = 300_000  # each picture at most 300 KB

# u = 2, 4, 6 side by side (u_2_4_6.jpg); its u = 4 render is also the before/after (demo_before_after.jpg).
U_SERIES = {"us": (2.0, 4.0, 6.0), "size": 256, "iterations": 128, "seed": 0}
# A sweep's contact sheet (sweep_contact_sheet.jpg): u across, two iteration counts down (snapshots of one run).
SWEEP = {"u": "2:6:1", "iterations": "32,96", "size": 160, "thumb": 160, "seed": 0}
# Boil 0 against boil 1 (boil_strip.jpg): a synthetic camera pan over the photo, painted as a shot twice.
BOIL = {"frames": 8, "shown": 4, "width": 160, "height": 120, "step_px": 3, "size": 160, "iterations": 64,
        "chunk": 4, "u": 4.0, "seed": 0}
# The studio screenshot (studio.jpg, --studio only): at most this size.
STUDIO = {"width": 1200, "height": 1100}


def impasto(*args: str, cwd: Path | None = None) -> str:
    """Run the impasto CLI of this interpreter's environment; its stdout."""
    env = {**os.environ, "IMPASTO_AUTO_PRECISION": "fp32"}
    done = subprocess.run([sys.executable, "-m", "impasto", *args], cwd=cwd, env=env, check=True,
                          stdout=subprocess.PIPE, text=True)
    return done.stdout


def save_jpeg(rgb: np.ndarray, name: str) -> Path:
    """Write a 0-1 RGB picture as the best-quality JPEG under MAX_BYTES."""
    from PIL import Image

    img = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    path = IMAGES / name
    for quality in range(92, 40, -4):
        img.save(path, "JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size <= MAX_BYTES:
            break
    else:
        raise SystemExit(f"{name} is still over {MAX_BYTES} bytes at quality {quality}; make it smaller")
    print(f"wrote {path.relative_to(ROOT)}: {img.width}x{img.height}, {path.stat().st_size // 1000} KB, "
          f"quality {quality}")
    return path


def read_rgb(path: Path) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    spec = buf.spec()
    arr = np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(spec.height, spec.width, spec.nchannels)
    return np.clip(arr[..., :3], 0, 1)


def side_by_side(images: list[np.ndarray], gap: int = 8) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    out = np.ones((h, sum(i.shape[1] for i in images) + gap * (len(images) - 1), 3), np.float32)
    x = 0
    for i in images:
        out[: i.shape[0], x : x + i.shape[1]] = i
        x += i.shape[1] + gap
    return out


def u_series() -> None:
    """u_2_4_6.jpg and demo_before_after.jpg (the u = 4 render beside the photo, as `make demo` lays it out)."""
    import impasto
    from impasto.demo import before_after, demo_content, demo_style_path

    content = demo_content()
    renders = {}
    for u in U_SERIES["us"]:
        look = impasto.Look(u=u, size=U_SERIES["size"], iterations=U_SERIES["iterations"], seed=U_SERIES["seed"],
                            precision="fp32")
        result = impasto.render(content, str(demo_style_path()), look, device="cpu")
        renders[u] = result
        print(f"u {u:g}: content loss {result.history[-1].content:.2g}, style loss {result.history[-1].style:.2g}, "
              f"{result.seconds:.0f} s")
    save_jpeg(side_by_side([renders[u].image for u in U_SERIES["us"]]), "u_2_4_6.jpg")
    save_jpeg(before_after(content, renders[4.0].image), "demo_before_after.jpg")


def sweep(work: Path) -> None:
    """sweep_contact_sheet.jpg: `impasto sweep`'s own contact sheet."""
    from impasto.demo import demo_content, demo_style_path
    from impasto.io.images import write_image

    write_image(work / "astronaut.png", demo_content())
    impasto("sweep", str(work / "astronaut.png"), str(demo_style_path()), "--u", SWEEP["u"], "--iterations",
            SWEEP["iterations"], "--size", str(SWEEP["size"]), "--seeds", str(SWEEP["seed"]), "--thumb",
            str(SWEEP["thumb"]), "--device", "cpu", "-o", str(work / "sweep"))
    save_jpeg(read_rgb(work / "sweep" / "contact_sheet.png"), "sweep_contact_sheet.jpg")


def boil(work: Path) -> None:
    """boil_strip.jpg: the plate, version 1 at boil 0 and version 2 at boil 1, frame by frame, with E_warp."""
    from impasto.demo import demo_content, demo_style_path
    from impasto.io.images import write_image
    from impasto.io.tensors import resize, to_array, to_tensor
    from impasto.lookdev.contact_sheet import SheetCell, SheetGrid, write_contact_sheet

    import torch

    b = BOIL
    photo = demo_content()
    # The pan: a window of the photo (scaled so the window is 2.2x smaller than it) moving right step_px a frame.
    scale = 2.2 * b["width"] / photo.shape[1]
    small = to_array(resize(to_tensor(photo, torch.device("cpu")),
                            (round(photo.shape[0] * scale), round(photo.shape[1] * scale))))
    plates = work / "shot" / "plates"
    plates.mkdir(parents=True)
    y0 = round(small.shape[0] * 0.12)
    for i in range(b["frames"]):
        x0 = 12 + i * b["step_px"]
        write_image(plates / f"pan.{1001 + i}.png", small[y0 : y0 + b["height"], x0 : x0 + b["width"]])
    shot = work / "shot"
    impasto("look", "save", str(shot / "look.toml"), str(plates / "pan.1001.png"), str(demo_style_path()),
            "--u", str(b["u"]), "--size", str(b["size"]), "--iterations", str(b["iterations"]),
            "--seed", str(b["seed"]))
    last = 1000 + b["frames"]
    impasto("shot", "init", "pan", "--plate", "plates/pan.####.png", "--frames", f"1001-{last}", "--look",
            "look.toml", "--chunk", str(b["chunk"]), cwd=shot)
    impasto("render", "pan.toml", "--device", "cpu", cwd=shot)  # version 1: boil 0
    impasto("shot", "version-up", "pan.toml", cwd=shot)
    impasto("render", "pan.toml", "--boil", "1", "--device", "cpu", cwd=shot)  # version 2: boil 1
    status = json.loads(impasto("status", "pan.toml", "--json", cwd=shot))
    ewarp = {v["version"]: v for v in status["ewarp"]["versions"]}
    boils = {1: 0.0, 2: 1.0}  # what each version was rendered with (status lists the boils its manifest records)
    for v in ewarp.values():
        print(f"version {v['version']} (boil {v['boil']}): E_warp {v['painted']:.2f}, plate {v['plate']:.2f}, "
              f"excess {v['excess']:.2f}")

    rows = [("plate", lambda f: plates / f"pan.{f}.png")]
    for version in (1, 2):
        rows.append((f"v{version:03d}", lambda f, v=version: shot / "render" / f"pan_paint_v{v:03d}.{f}.exr"))
    def pair_text(row: str, frame: int) -> str:
        """E_warp of the pair ending at `frame`, for that row (the plate's own, or a version's painted)."""
        v = ewarp[1 if row == "plate" else int(row[1:])]
        for p in v["per_pair"]:
            if p["frames"][1] == frame:
                return f"E_warp {p['plate' if row == 'plate' else 'painted']:.1f}"
        return "first frame"

    cells_dir = work / "strip"
    cells_dir.mkdir()
    cells, labels = [], []
    for r, (name, where) in enumerate(rows):
        for c in range(b["shown"]):
            frame = 1001 + c
            rel = f"{name}.{frame}.png"
            write_image(cells_dir / rel, read_rgb(where(frame)))
            cells.append(SheetCell(r, c, rel, None, [pair_text(name, frame)]))
        if name == "plate":
            labels.append(f"plate\nE_warp {ewarp[1]['plate']:.1f}")
        else:
            v = ewarp[int(name[1:])]
            labels.append(f"boil {boils[v['version']]:g}\nE_warp {v['painted']:.1f}")
    grid = SheetGrid(cells, len(rows), b["shown"], labels, [f"frame {1001 + c}" for c in range(b["shown"])],
                     f"boil 0 against boil 1: a {b['step_px']} px/frame pan, u {b['u']:g}, {b['size']} px, "
                     f"{b['iterations']} iterations")
    write_contact_sheet(cells_dir / "strip.png", cells_dir, grid, thumb=b["width"])
    save_jpeg(read_rgb(cells_dir / "strip.png"), "boil_strip.jpg")


def studio(work: Path) -> None:
    """studio.jpg: a screenshot of the look-dev page in headless Chromium (Tübingen × The Starry Night, taken
    2026-11-26 with a preview, a wipe and a sweep open). Driving the page to that state takes a long preview
    render, so this step only re-encodes the committed screenshot when it is over MAX_BYTES."""
    from PIL import Image

    path = IMAGES / "studio.jpg"
    if path.stat().st_size <= MAX_BYTES:
        print(f"{path.relative_to(ROOT)} is {path.stat().st_size // 1000} KB: kept as it is")
        return
    img = Image.open(path).convert("RGB")
    img.thumbnail((STUDIO["width"], STUDIO["height"]))
    save_jpeg(np.asarray(img, np.float32) / 255.0, "studio.jpg")


STEPS = {"u_2_4_6": u_series, "sweep_contact_sheet": sweep, "boil_strip": boil, "studio": studio}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(STEPS), action="append", help="make only this picture (repeatable)")
    ap.add_argument("--studio", action="store_true", help="also re-encode the studio screenshot if it is too big")
    ap.add_argument("--work", type=Path, help="keep the renders in this folder (default: a temporary one)")
    args = ap.parse_args()
    names = args.only or [n for n in STEPS if n != "studio" or args.studio]
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            step = STEPS[name]
            work = (args.work or Path(tmp)) / name
            work.mkdir(parents=True)
            step() if name == "u_2_4_6" else step(work)


if __name__ == "__main__":
    main()
