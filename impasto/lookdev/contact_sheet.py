"""A labelled contact sheet (PNG, text drawn with OpenImageIO) and a small static index.html for a grid of images."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from impasto.errors import ImpastoError
from impasto.files import atomic_write_text
from impasto.io.images import write_image

FONT_SIZE = 13
LINE = 17  # px per text line
PAD = 8
BACKGROUND = (0.13, 0.13, 0.13)
TEXT = (0.92, 0.92, 0.92)
DIM = (0.55, 0.55, 0.55)


@dataclass
class SheetCell:
    """One grid position: the image and look file (paths relative to the folder) and the lines under it."""

    row: int
    col: int
    image: str
    look: str | None
    lines: list[str]


@dataclass
class SheetGrid:
    """What a contact sheet or its index shows: the cells, the grid's size, its labels and title."""

    cells: list[SheetCell]
    rows: int
    cols: int
    row_labels: list[str]
    col_labels: list[str]
    title: str


@dataclass
class SheetLayout:
    width: int
    height: int
    boxes: dict[tuple[int, int], tuple[int, int, int, int]]  # (row, col) -> x, y, w, h of the thumbnail drawn there
    labelled: bool


def text_width(text: str, size: int = FONT_SIZE) -> int:
    """Pixel width of one line in OpenImageIO's default font (an estimate when no font is found)."""
    roi = oiio.ImageBufAlgo.text_size(text, size, "")
    if roi.defined:
        return int(roi.width)
    return int(0.6 * size * len(text))


def _read(path: Path) -> np.ndarray:
    """A cell as float RGB; straight through OpenImageIO, since cells may be smaller than impasto's input minimum."""
    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.FLOAT)
    if buf.has_error or pixels is None:
        raise ImpastoError(f"Could not read sweep cell '{path}' ({buf.geterror().strip() or 'no pixels'}).")
    arr = np.asarray(pixels, dtype=np.float32).reshape(buf.spec().height, buf.spec().width, buf.spec().nchannels)
    if arr.shape[2] < 3:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    return np.clip(arr[:, :, :3], 0, 1)


def _thumbnail(rgb: np.ndarray, thumb: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= thumb:
        return rgb
    s = thumb / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    src = oiio.ImageBuf(np.ascontiguousarray(rgb))
    dst = oiio.ImageBufAlgo.resize(src, roi=oiio.ROI(0, nw, 0, nh, 0, 1, 0, 3))
    return np.asarray(dst.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(nh, nw, 3).clip(0, 1)


def write_contact_sheet(path: str | os.PathLike, folder: str | os.PathLike, grid: SheetGrid, *,
                        thumb: int = 256) -> SheetLayout:
    """Draw the grid: a title, u across the top, row labels on the left, each cell's parameters under it."""
    cells, rows, cols, row_labels, col_labels, title = (grid.cells, grid.rows, grid.cols, grid.row_labels,
                                                        grid.col_labels, grid.title)
    folder = Path(folder)
    thumbs: dict[tuple[int, int], np.ndarray | None] = {}
    for c in cells:
        p = folder / c.image
        thumbs[(c.row, c.col)] = _thumbnail(_read(p), thumb) if p.is_file() else None
    shapes = [t.shape[:2] for t in thumbs.values() if t is not None] or [(thumb, thumb)]
    th, tw = max(s[0] for s in shapes), max(s[1] for s in shapes)
    n_lines = max((len(c.lines) for c in cells), default=0)
    cw = max(tw, *(text_width(line) for c in cells for line in c.lines)) if cells else tw
    label_h = n_lines * LINE + PAD // 2
    left = PAD + max((text_width(part) for lab in row_labels for part in lab.split("\n")), default=0) + PAD
    top = PAD + LINE + PAD + LINE + PAD // 2  # title, then the column headers
    width = max(left + cols * (cw + PAD), PAD + text_width(title) + PAD)
    height = top + rows * (th + label_h + PAD) + PAD

    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = BACKGROUND
    boxes: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for (r, c), t in thumbs.items():
        x0 = left + c * (cw + PAD)
        y0 = top + r * (th + label_h + PAD)
        if t is None:
            canvas[y0:y0 + th, x0:x0 + tw] = (0.25, 0.08, 0.08)  # not rendered (yet)
            continue
        h, w = t.shape[:2]
        x, y = x0 + (cw - w) // 2, y0 + (th - h) // 2
        canvas[y:y + h, x:x + w] = t
        boxes[(r, c)] = (x, y, w, h)

    buf = oiio.ImageBuf(canvas)
    texts: list[tuple[int, int, str, tuple[float, float, float]]] = [(PAD, PAD + FONT_SIZE, title, TEXT)]
    for c, lab in enumerate(col_labels):
        x0 = left + c * (cw + PAD)
        texts.append((x0 + max(0, (cw - text_width(lab)) // 2), PAD + LINE + PAD + FONT_SIZE, lab, TEXT))
    for r, lab in enumerate(row_labels):
        y0 = top + r * (th + label_h + PAD)
        for i, part in enumerate(lab.split("\n")):
            texts.append((PAD, y0 + FONT_SIZE + i * LINE, part, TEXT if i == 0 else DIM))
    for cell in cells:
        x0 = left + cell.col * (cw + PAD)
        y0 = top + cell.row * (th + label_h + PAD) + th
        for i, line in enumerate(cell.lines):
            texts.append((x0, y0 + FONT_SIZE + 2 + i * LINE, line, TEXT if i == 0 else DIM))
    labelled = True
    for x, y, text, colour in texts:
        # render_text places y on the baseline; it fails only when no font can be found.
        if not oiio.ImageBufAlgo.render_text(buf, x, y, text, FONT_SIZE, "", colour):
            labelled = False
            break
    pixels = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, 3)
    write_image(path, pixels)
    return SheetLayout(width, height, boxes, labelled)


def write_index(path: str | os.PathLike, grid: SheetGrid, *, sheet: str = "contact_sheet.png",
                manifest: str | None = None) -> Path:
    """A static page: the grid with each cell's parameters and links to its image and look file."""
    cells, rows, cols, row_labels, col_labels, title = (grid.cells, grid.rows, grid.cols, grid.row_labels,
                                                        grid.col_labels, grid.title)
    e = html.escape
    grid: dict[tuple[int, int], SheetCell] = {(c.row, c.col): c for c in cells}
    out = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
        (
            "<style>body{background:#222;color:#ddd;font:13px sans-serif;margin:16px}"
            "table{border-collapse:collapse}td,th{padding:4px;vertical-align:top;text-align:left}"
            "th{font-weight:600}figure{margin:0}img{display:block;max-width:256px}"
            "figcaption{color:#bbb;margin-top:2px}a{color:#9cf}</style>"
        ),
        "</head><body>", f"<h1>{e(title)}</h1>",
        f'<p><a href="{e(sheet)}">contact sheet</a>'
        + (f' · <a href="{e(manifest)}">manifest</a>' if manifest else "") + "</p>",
        "<table>", "<tr><th></th>" + "".join(f"<th>{e(lab)}</th>" for lab in col_labels) + "</tr>",
    ]
    for r in range(rows):
        label = "<br>".join(e(p) for p in (row_labels[r] if r < len(row_labels) else "").split("\n"))
        out.append(f"<tr><th>{label}</th>")
        for c in range(cols):
            cell = grid.get((r, c))
            if cell is None:
                out.append("<td></td>")
                continue
            caption = "<br>".join(e(line) for line in cell.lines)
            look = f' · <a href="{e(cell.look)}">look</a>' if cell.look else ""
            out.append(
                f'<td><figure><a href="{e(cell.image)}"><img src="{e(cell.image)}" alt="{e(" ".join(cell.lines))}">'
                f"</a><figcaption>{caption}{look}</figcaption></figure></td>"
            )
        out.append("</tr>")
    out += ["</table>", "</body></html>", ""]
    return atomic_write_text(path, "\n".join(out))
