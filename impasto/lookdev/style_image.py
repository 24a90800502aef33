"""Style-image tools (paper 3.2): assemble a style image from crops of painting photos, and check its quality.

`build_style_image` packs a main crop plus colour and texture blocks into one image; `check_style_image`
measures what the paper found ruins a transfer: blown highlights, crushed shadows, too few pixels for the
final size, blur or flattened texture, a colour cast and JPEG blocking. Neither prints nor exits.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import OpenImageIO as oiio
from pydantic import BaseModel, Field
from scipy.ndimage import gaussian_filter

from impasto.errors import ImpastoError, UsageError
from impasto.files import atomic_write_text, file_digest
from impasto.io.images import check_writable, read_image, write_image
from impasto.look import LookFile
from impasto.version import __version__

# --- thresholds (the numbers behind every warning) ---------------------------------------------------------
CLIP_HIGH = 0.99  # a channel at/above this is a clipped highlight
CLIP_LOW = 0.01  # a channel at/below this is a crushed shadow
WARN_CLIPPED = 0.01  # warn when more than 1 % of pixels are clipped in any channel
WARN_CRUSHED = 0.01  # warn when more than 1 % of pixels are crushed in any channel
ANALYSIS_EDGE = 512  # blur/texture/cast are measured at this long edge, so big and small images compare fairly
WARN_SHARPNESS = 0.30  # finest-band / mid-band RMS ratio below this: blurred or smoothed (sharp photos: 0.5-1.9; σ=1 px blur at analysis size: ~0.3)
WARN_TEXTURE = 0.015  # RMS luminance detail (2-16 px scale) below this: flattened texture
WARN_CAST = 15.0  # grey-world Lab chroma offset √(a²+b²) above this: strong cast (neutral photos 2-5; varnished paintings 10-15)
WARN_BLOCKING = 1.20  # 8×8-grid step / off-grid step above this: JPEG blocking (clean 1.00-1.06, q95 ≤1.12, q30 1.2-2.8)
MIN_BOX = 4  # a source box must be at least this many px on each side
MIN_PLACED = 8  # and at least this many px on each side once placed in the style image
DEFAULT_BUILD_SIZE = 1024

Layout = Literal["auto", "below", "right"]


# --- boxes ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """A region x0,y0,x1,y1 (x1, y1 exclusive) of photo number `photo` (0 = the first)."""

    x0: int
    y0: int
    x1: int
    y1: int
    photo: int = 0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def text(self) -> str:
        prefix = f"{self.photo}:" if self.photo else ""
        return f"{prefix}{self.x0},{self.y0},{self.x1},{self.y1}"


_BOX = re.compile(r"^\s*(?:(\d+)\s*:)?\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$")


def parse_box(text: str, what: str = "--block") -> Box:
    """Parse `[N:]x0,y0,x1,y1`; N picks the photo (0 = the first, the default)."""
    m = _BOX.match(text or "")
    if not m:
        raise UsageError(f"{what} '{text}' must be x0,y0,x1,y1 in source pixels, optionally prefixed by the photo number, like 1:40,30,300,200.")
    photo = int(m.group(1)) if m.group(1) else 0
    x0, y0, x1, y1 = (int(g) for g in m.groups()[1:])
    return Box(x0, y0, x1, y1, photo)


def validate_box(box: Box, width: int, height: int, name: str, what: str = "--block") -> None:
    """Raise a one-sentence UsageError for a reversed, empty, tiny or out-of-image box."""
    label = f"{what} {box.text()}"
    if box.x1 < box.x0 or box.y1 < box.y0:
        axis = "x1 must be greater than x0" if box.x1 < box.x0 else "y1 must be greater than y0"
        raise UsageError(f"{label} is reversed: boxes are x0,y0,x1,y1 and {axis}.")
    if box.width == 0 or box.height == 0:
        raise UsageError(f"{label} is empty ({box.width}×{box.height} px).")
    if box.x0 < 0 or box.y0 < 0 or box.x1 > width or box.y1 > height:
        raise UsageError(f"{label} reaches outside {name}, which is {width}×{height} px.")
    if box.width < MIN_BOX or box.height < MIN_BOX:
        raise UsageError(f"{label} is only {box.width}×{box.height} px; a block needs at least {MIN_BOX} px on each side.")


# --- resampling and measuring ----------------------------------------------------------------------------------
def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Filtered resize with OpenImageIO (a windowed filter down, a smooth one up)."""
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    buf = oiio.ImageBuf(np.ascontiguousarray(rgb, dtype=np.float32))
    if w >= 3 * width and h >= 3 * height:
        # The default filter widens with the ratio (8 s for 6000 px to 512 px); a box pass to twice the target
        # first costs a tenth of that, and the final 2× filtered pass removes what the box lets through.
        buf = oiio.ImageBufAlgo.resize(buf, filtername="box", roi=oiio.ROI(0, 2 * width, 0, 2 * height, 0, 1, 0, 3))
    out = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    if out.has_error:
        raise ImpastoError(f"Resizing to {width}×{height} failed ({out.geterror().strip()}).")
    return np.clip(np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, 3), 0.0, 1.0)


def _fit(width: int, height: int, long_edge: int) -> tuple[int, int]:
    s = long_edge / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def required_edge(final_size: int, style_scale: float) -> int:
    """Long edge the engine resizes the style image to for a render of `final_size` (see engine.render)."""
    return max(32, round(style_scale * final_size))


def clipping(rgb: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel share of pixels at/above CLIP_HIGH and at/below CLIP_LOW."""
    flat = rgb.reshape(-1, 3)
    high = (flat >= CLIP_HIGH).mean(axis=0)
    low = (flat <= CLIP_LOW).mean(axis=0)
    return [float(v) for v in high], [float(v) for v in low]


def detail_bands(rgb: np.ndarray) -> tuple[float, float]:
    """(sharpness, texture) of an image at analysis size: finest-band/mid-band RMS ratio and mid-band RMS."""
    y = _luma(rgb).astype(np.float64)
    b1 = gaussian_filter(y, 1.0, mode="reflect")
    b4 = gaussian_filter(y, 4.0, mode="reflect")
    fine = y - b1  # detail of about 2-4 px: the first to go when a photo is soft or smoothed by a phone
    mid = b1 - b4  # detail of about 4-16 px: brush strokes at analysis size; the reference for fine
    m = 4  # filter borders are not content
    fine, mid = fine[m:-m, m:-m], mid[m:-m, m:-m]
    rms_fine = float(np.sqrt(np.mean(fine**2)))
    rms_mid = float(np.sqrt(np.mean(mid**2)))
    return (rms_fine / rms_mid if rms_mid > 1e-6 else 0.0), rms_mid


def colour_cast(rgb: np.ndarray) -> tuple[float, float, float, float, float]:
    """(mean a, mean b, chroma offset √(a²+b²), R/G, B/G) of an sRGB image: the grey-world view of its colour."""
    from skimage.color import (
        rgb2lab,  # deferred: scikit-image is slow to import and only this check uses it
    )

    lab = rgb2lab(rgb.astype(np.float64))
    a, b = float(lab[..., 1].mean()), float(lab[..., 2].mean())
    means = rgb.reshape(-1, 3).mean(axis=0).astype(np.float64) + 1e-6
    return a, b, math.hypot(a, b), float(means[0] / means[1]), float(means[2] / means[1])


def jpeg_blocking(rgb: np.ndarray) -> tuple[float, int, int]:
    """(ratio, x phase, y phase): how much stronger luminance steps are on the strongest 8-px grid than off it.

    About 1 for a clean image; the phase search finds the grid of a JPEG that was cropped at any offset.
    Only meaningful at the resolution the image was compressed at, so it is measured without resizing.
    """
    y = _luma(rgb)  # float32: a 24 Mpx photo stays well under a gigabyte of temporaries
    ratios, phases = [], []
    for d in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        n = d.shape[1] // 8 * 8
        if n < 16:
            ratios.append(1.0), phases.append(0)
            continue
        # Mean step across each column position mod 8; the grid boundary sits between pixel 8k+p and 8k+p+1.
        per_phase = d[:, :n].reshape(d.shape[0], -1, 8).mean(axis=(0, 1), dtype=np.float64)
        p = int(np.argmax(per_phase))
        rest = np.delete(per_phase, p)
        ratios.append(float(per_phase[p] / rest.mean()) if rest.mean() > 1e-9 else 1.0)
        phases.append(p)
    # Real blocking shows on both axes; the weaker axis keeps strong vertical or horizontal texture from counting.
    return min(ratios), phases[0], phases[1]


# --- the check report -------------------------------------------------------------------------------------------
class Diagnostic(BaseModel):
    """One measured property, the threshold it is judged by and a warning when it matters."""

    name: str
    value: float = Field(description="the headline number (worst channel, ratio, ...)")
    threshold: float
    limit: Literal["max", "min"] = Field(description="max: warn above the threshold; min: warn below it")
    unit: str
    ok: bool
    detail: dict[str, float] = Field(default_factory=dict)
    warning: str | None = None


class CheckReport(BaseModel):
    """Everything `style-image check` measured."""

    image: str
    width: int
    height: int
    final_size: int
    style_scale: float
    required_edge: int
    analysis_edge: int
    diagnostics: list[Diagnostic]

    @property
    def warnings(self) -> list[str]:
        return [d.warning for d in self.diagnostics if d.warning]

    def as_json(self) -> dict:
        return {**self.model_dump(), "warnings": self.warnings}


def check_array(rgb: np.ndarray, final_size: int, style_scale: float = 1.2, name: str = "image") -> CheckReport:
    """Diagnose an H×W×3 float RGB (0-1) style image for a render whose long edge is `final_size`."""
    if final_size < 32 or final_size > 16384:
        raise UsageError(f"The final size must be between 32 and 16384 px, not {final_size}.")
    if not (0 < style_scale <= 8):
        raise UsageError(f"The style scale must be above 0 and at most 8, not {style_scale:g}.")
    h, w = rgb.shape[:2]
    diags: list[Diagnostic] = []
    ch = "RGB"

    high, low = clipping(rgb)
    worst = int(np.argmax(high))
    diags.append(Diagnostic(
        name="clipped_highlights", limit="max", value=high[worst], threshold=WARN_CLIPPED, unit="fraction of pixels",
        ok=high[worst] <= WARN_CLIPPED, detail={c: v for c, v in zip(ch, high)},
        warning=None if high[worst] <= WARN_CLIPPED else
        f"{high[worst]:.1%} of pixels are clipped (≥ {CLIP_HIGH:g}) in {ch[worst]}: blown highlights carry no texture; "
        "reshoot with less exposure or polarised light.",
    ))
    worst = int(np.argmax(low))
    diags.append(Diagnostic(
        name="crushed_shadows", limit="max", value=low[worst], threshold=WARN_CRUSHED, unit="fraction of pixels",
        ok=low[worst] <= WARN_CRUSHED, detail={c: v for c, v in zip(ch, low)},
        warning=None if low[worst] <= WARN_CRUSHED else
        f"{low[worst]:.1%} of pixels are crushed (≤ {CLIP_LOW:g}) in {ch[worst]}: shadow texture is lost.",
    ))

    need = required_edge(final_size, style_scale)
    long_edge = max(w, h)
    diags.append(Diagnostic(
        name="resolution", limit="min", value=float(long_edge), threshold=float(need), unit="px long edge",
        ok=long_edge >= need, detail={"upscale": need / long_edge},
        warning=None if long_edge >= need else
        f"The long edge is {long_edge} px but a {final_size} px render scales the style image to {need} px "
        f"(×{need / long_edge:.2f}), which softens its texture.",
    ))

    aw, ah = _fit(w, h, min(ANALYSIS_EDGE, long_edge))  # never upsample: that would invent blur
    small = _resize(rgb, aw, ah)
    sharp, texture = detail_bands(small)
    diags.append(Diagnostic(
        name="sharpness", limit="min", value=sharp, threshold=WARN_SHARPNESS, unit="fine/mid detail ratio",
        ok=sharp >= WARN_SHARPNESS, detail={"analysis_width": aw, "analysis_height": ah},
        warning=None if sharp >= WARN_SHARPNESS else
        f"Fine detail is weak ({sharp:.2f} of mid-scale detail, below {WARN_SHARPNESS:g}): the photo looks blurred "
        "or noise-reduced, and the transfer will lose the paint's texture.",
    ))
    diags.append(Diagnostic(
        name="texture", limit="min", value=texture, threshold=WARN_TEXTURE, unit="RMS luminance detail",
        ok=texture >= WARN_TEXTURE,
        warning=None if texture >= WARN_TEXTURE else
        f"Texture is flat (RMS detail {texture:.4f}, below {WARN_TEXTURE:g}): there is little brushwork to transfer.",
    ))

    a, b, chroma, rg, bg = colour_cast(small)
    diags.append(Diagnostic(
        name="colour_cast", limit="max", value=chroma, threshold=WARN_CAST, unit="mean Lab chroma",
        ok=chroma <= WARN_CAST, detail={"a": a, "b": b, "r_over_g": rg, "b_over_g": bg},
        warning=None if chroma <= WARN_CAST else
        f"The mean colour is offset by {chroma:.1f} Lab units (a {a:+.1f}, b {b:+.1f}): a strong cast, unless it is "
        "the painting's own palette, will tint every render; check the white balance.",
    ))

    ratio, px, py = jpeg_blocking(rgb)
    diags.append(Diagnostic(
        name="jpeg_blocking", limit="max", value=ratio, threshold=WARN_BLOCKING, unit="grid/off-grid step ratio",
        ok=ratio <= WARN_BLOCKING, detail={"x_phase": px, "y_phase": py},
        warning=None if ratio <= WARN_BLOCKING else
        f"Steps on an 8×8 grid are {ratio:.2f}× the others: JPEG blocking, which style transfer copies as texture; "
        "use a less compressed photo.",
    ))
    return CheckReport(image=name, width=w, height=h, final_size=final_size, style_scale=style_scale,
                       required_edge=need, analysis_edge=ANALYSIS_EDGE, diagnostics=diags)


def check_style_image(path: str | os.PathLike, final_size: int = 512, style_scale: float = 1.2) -> CheckReport:
    """Read a style image and diagnose it for a render whose long edge is `final_size`."""
    rgb = read_image(path)
    return check_array(rgb, final_size, style_scale, name=str(path))


def look_style_images(look_file: LookFile) -> list[tuple[str, str]]:
    """Every style image a look paints with, with what it belongs to: ('look', path) for the look's own, then
    ("region 'fg'", path) for each region's own, in order; an image used twice is listed once per owner."""
    owned = [("look", s) for s in look_file.styles]
    for r in look_file.look.regions:
        owned += [(f"region '{r.name}'", s) for s in r.styles or ()]
    return owned


# --- the build ------------------------------------------------------------------------------------------------------
class Placement(BaseModel):
    """One source region and where it went in the style image."""

    role: Literal["crop", "block"]
    photo: int
    source: str
    box: tuple[int, int, int, int] = Field(description="x0,y0,x1,y1 in the source photo")
    placed: tuple[int, int, int, int] = Field(description="x0,y0,x1,y1 in the style image")
    scale: float = Field(description="style-image px per source px (above 1: upsampled, softer)")
    share: float = Field(description="fraction of the style image's area, i.e. its weight in the style statistics")


class BuildReport(BaseModel):
    """What `style-image build` assembled from where, plus the check of the result."""

    output: str
    width: int
    height: int
    layout: str
    sources: list[dict]
    regions: list[Placement]
    build_warnings: list[str]
    sha256: str
    check: CheckReport

    @property
    def warnings(self) -> list[str]:
        return self.build_warnings + self.check.warnings


def report_path(image: str | os.PathLike) -> Path:
    """`<image>.report.json` beside the image."""
    image = Path(image)
    return image.with_name(image.name + ".report.json")


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write JSON atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Report folder '{folder}' does not exist.")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"Report folder '{folder}' is not writable; name another report path.")
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256", None)


def _rows(blocks: Sequence[tuple[float, float]], main_width: float) -> tuple[list[list[int]], float]:
    """Split blocks (w, h, in order) into justified rows under a main region `main_width` source px wide.

    A row spans the full width, so its height follows from its blocks' aspects; dynamic programming picks the
    rows whose blocks end up closest to the main region's scale (in log terms), so brushwork keeps one size
    across the style image where the shapes allow it. Returns (rows, cost).
    """
    n = len(blocks)
    cost = [0.0] + [math.inf] * n
    prev = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            row = blocks[i:j]
            height = main_width / sum(w / h for w, h in row)  # row height at the main region's scale
            c = cost[i] + sum(math.log(height / h) ** 2 for _, h in row)
            if c < cost[j]:
                cost[j], prev[j] = c, i
    rows, j = [], n
    while j > 0:
        rows.append(list(range(prev[j], j)))
        j = prev[j]
    return rows[::-1], cost[n]


def plan_layout(main: tuple[int, int], blocks: Sequence[tuple[int, int]], size: int,
                layout: Layout = "auto") -> tuple[str, list[tuple[int, int, int, int]], tuple[int, int]]:
    """Place the main region (w, h) and blocks [(w, h), ...] in a canvas whose long edge is `size`.

    The main region keeps its aspect and spans the canvas width (blocks below) or height (blocks to the right);
    the blocks fill justified rows (or columns) beside it, aspect kept, so the canvas has no empty space.
    `auto` takes the side where the blocks' scale stays closest to the main region's and the canvas squarest
    (a square canvas holds the most pixels at a given long edge).
    Returns (side, [x0, y0, x1, y1 for main then each block], (width, height)).
    """
    if size < 32 or size > 16384:
        raise UsageError(f"--size must be between 32 and 16384 px, not {size}.")
    best = None
    for side in (["below", "right"] if layout == "auto" else [layout]):
        # Work as if blocks go below, in source px at the main region's scale; 'right' is the same transposed.
        (mw, mh), bl = (main, list(blocks)) if side == "below" else (main[::-1], [b[::-1] for b in blocks])
        rects = [(0.0, 0.0, float(mw), float(mh))]
        y, cost = float(mh), 0.0
        if bl:
            rows, cost = _rows(bl, mw)
            for row in rows:
                rh = mw / sum(bl[i][0] / bl[i][1] for i in row)
                x = 0.0
                for i in row:
                    rw = bl[i][0] / bl[i][1] * rh
                    rects.append((x, y, x + rw, y + rh))
                    x += rw
                rects[-1] = (rects[-1][0], y, float(mw), y + rh)  # no sliver of float error at the right end
                y += rh
        total_w, total_h = float(mw), y
        cost += math.log(total_w / total_h) ** 2
        if side == "right":
            rects = [(y0, x0, y1, x1) for x0, y0, x1, y1 in rects]
            total_w, total_h = total_h, total_w
        if best is None or cost < best[0] - 1e-9:
            best = (cost, side, rects, total_w, total_h)
    _, side, rects, total_w, total_h = best
    scale = size / max(total_w, total_h)
    cw, ch = max(1, round(total_w * scale)), max(1, round(total_h * scale))
    # Round edges, not sizes: neighbours share an edge exactly, so rounding leaves no gap or overlap.
    placed = [(round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale)) for x0, y0, x1, y1 in rects]
    placed = [(min(x0, cw), min(y0, ch), min(x1, cw), min(y1, ch)) for x0, y0, x1, y1 in placed]
    return side, placed, (cw, ch)


@dataclass
class BuildResult:
    image: np.ndarray
    report: BuildReport


def build_style_image(
    photos: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    crop: Box | None = None,
    blocks: Sequence[Box] = (),
    size: int = DEFAULT_BUILD_SIZE,
    layout: Layout = "auto",
    final_size: int = 512,
    style_scale: float = 1.2,
    write: bool = True,
) -> BuildResult:
    """Crop the main region and blocks from the photos, pack them into one style image and check it.

    Every input is validated before anything is written; with `write`, the image goes out atomically
    through imageio.write_image and the report to `<output>.report.json`.
    """
    if not photos:
        raise UsageError("Give at least one photo of the painting.")
    if layout not in ("auto", "below", "right"):
        raise UsageError(f"--layout must be auto, below or right, not '{layout}'.")
    if size < 32 or size > 16384:
        raise UsageError(f"--size must be between 32 and 16384 px, not {size}.")
    out = check_writable(output)
    for p in photos:
        if Path(p).exists() and out.exists() and out.resolve() == Path(p).resolve():
            raise UsageError(f"The output '{out}' is one of the input photos; name another output.")
    for box, what in [(crop, "--crop")] + [(b, "--block") for b in blocks]:
        if box is not None and not (0 <= box.photo < len(photos)):
            given = "only 1 photo was" if len(photos) == 1 else f"{len(photos)} photos were"
            raise UsageError(f"{what} {box.text()} names photo {box.photo}, but {given} given, numbered from 0.")

    images = [read_image(p) for p in photos]
    names = [Path(p).name for p in photos]
    if crop is None:
        h, w = images[0].shape[:2]
        crop = Box(0, 0, w, h, 0)
    validate_box(crop, images[crop.photo].shape[1], images[crop.photo].shape[0], names[crop.photo], "--crop")
    for b in blocks:
        validate_box(b, images[b.photo].shape[1], images[b.photo].shape[0], names[b.photo], "--block")

    regions = [crop, *blocks]
    side, placed, (cw, ch) = plan_layout((crop.width, crop.height), [(b.width, b.height) for b in blocks], size, layout)
    for (x0, y0, x1, y1), box in zip(placed, regions):
        if x1 - x0 < MIN_PLACED or y1 - y0 < MIN_PLACED:
            raise UsageError(f"At --size {size} the region {box.text()} would be only {x1 - x0}×{y1 - y0} px; "
                             "raise --size or use fewer blocks.")

    canvas = np.zeros((ch, cw, 3), dtype=np.float32)
    placements: list[Placement] = []
    for (x0, y0, x1, y1), box, role in zip(placed, regions, ["crop"] + ["block"] * len(blocks)):
        src = images[box.photo][box.y0:box.y1, box.x0:box.x1]
        canvas[y0:y1, x0:x1] = _resize(src, x1 - x0, y1 - y0)
        placements.append(Placement(role=role, photo=box.photo, source=str(photos[box.photo]),
                                    box=(box.x0, box.y0, box.x1, box.y1), placed=(x0, y0, x1, y1),
                                    scale=round(((x1 - x0) / box.width * (y1 - y0) / box.height) ** 0.5, 4),
                                    share=round((x1 - x0) * (y1 - y0) / (cw * ch), 4)))

    build_warnings = []
    up = [p for p in placements if p.scale > 1.05]
    if up:
        worst = max(up, key=lambda p: p.scale)
        build_warnings.append(
            f"{len(up)} region(s) are upsampled (up to ×{worst.scale:.2f}, {worst.role} {','.join(map(str, worst.box))}), which softens "
            "their texture; use a smaller --size or larger source boxes.")
    scales = [p.scale for p in placements]
    if max(scales) / min(scales) > 2.0:
        build_warnings.append(
            f"Regions are scaled from ×{min(scales):.2f} to ×{max(scales):.2f}, so the same brushwork appears at "
            "different sizes; pick blocks of similar size to keep the texture scale consistent.")
    sources = []
    for i, (p, rgb) in enumerate(zip(photos, images)):
        ratio, _, _ = jpeg_blocking(rgb)
        sources.append({"photo": i, "path": str(p), "width": rgb.shape[1], "height": rgb.shape[0],
                        "jpeg_blocking": round(ratio, 4)})
        if ratio > WARN_BLOCKING:
            build_warnings.append(f"Photo {i} ({names[i]}) shows JPEG blocking ({ratio:.2f}× on the 8×8 grid), "
                                  "which the transfer copies as texture.")

    check = check_array(canvas, final_size, style_scale, name=str(out))
    report = BuildReport(output=str(out), width=cw, height=ch, layout=side, sources=sources, regions=placements,
                         build_warnings=build_warnings, sha256="", check=check)
    if write:
        write_image(out, canvas, {"Software": f"impasto {__version__}",
                                  "ImageDescription": f"impasto style image from {', '.join(names)}"})
        report.sha256 = file_sha256(out)
        write_json(report_path(out), {"build": build_json(report), "check": check.as_json()})
    return BuildResult(canvas, report)


def build_json(report: BuildReport) -> dict:
    data = report.model_dump(exclude={"check", "build_warnings"})
    data["warnings"] = report.build_warnings
    return data
