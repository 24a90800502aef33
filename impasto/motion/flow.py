"""Dense optical flow of the plate (OpenCV DIS), backward warping, Ruder et al. 2016's consistency mask, and
flows composed over several frames.

Conventions: a flow is H×W×2 float32, (dx, dy) in pixels, defined on the frame it starts from: pixel p of that
frame moves to p + flow(p) in the other. For frame t, `backward` (t -> t-1) lives on t and `forward` (t-1 -> t)
lives on t-1. `warp(image, flow)` samples `image` at p + flow(p), so warp(frame t-1, backward) lands on frame t.

Determinism: DIS's results were measured identical with OpenCV running on 1, 2, 3, 8 and 16 threads (cv2 4.14;
tests/test_motion.py checks it), so the flow is computed with whatever thread count the process has set
(cv2.setNumThreads is global to the process, and changing it here would slow other users down).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from impasto.errors import ImpastoError, UsageError

# Bumped whenever a change here would change a flow or a mask: it is part of the flow cache's key.
ALGORITHM = "dis-medium/gray8/ruder2016-mask/v1"

# Ruder et al. 2016 (artistic-videos, consistencyChecker): occlusion and motion-boundary thresholds.
OCCLUSION_RELATIVE, OCCLUSION_ABSOLUTE = 0.01, 0.5
BOUNDARY_RELATIVE, BOUNDARY_ABSOLUTE = 0.01, 0.002
_TRUSTED = 1.0 - 1e-6
MIN_SIDE = 12  # DIS refuses pictures under 12 px both ways (cv2 4.14); 12 a side keeps every shape clear  # a warped mask value above this had all four bilinear neighbours trusted


def grey8(picture: np.ndarray) -> np.ndarray:
    """A display-referred 0-1 picture (H×W, H×W×1, H×W×3 or H×W×4) as 8-bit grey, what DIS works on."""
    picture = np.asarray(picture)
    if picture.ndim == 3 and picture.shape[2] == 1:
        picture = picture[..., 0]
    if picture.ndim == 3 and picture.shape[2] >= 3:
        rgb8 = np.clip(np.rint(picture[..., :3].astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_RGB2GRAY)
    if picture.ndim != 2:
        raise UsageError(f"A picture for optical flow must be H×W or H×W×3, not of shape {picture.shape}.")
    return np.clip(np.rint(picture.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def compute_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from picture `a` to picture `b` (same size, display-referred 0-1): H×W×2 float32, pixel p of
    `a` moves to p + flow(p) in `b`. OpenCV DIS, medium preset, on 8-bit grey."""
    ga, gb = grey8(a), grey8(b)
    if ga.shape != gb.shape:
        raise UsageError(f"Optical flow needs two pictures of one size, not {ga.shape[1]}×{ga.shape[0]} "
                         f"and {gb.shape[1]}×{gb.shape[0]}.")
    if min(ga.shape) < MIN_SIDE:
        raise UsageError(f"A picture of {ga.shape[1]}×{ga.shape[0]} px is too small for optical flow "
                         f"({MIN_SIDE} px a side at least).")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    try:
        flow = dis.calc(ga, gb, None)
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise ImpastoError(f"Optical flow failed on {ga.shape[1]}×{ga.shape[0]} px pictures ({reason}).") from None
    return np.ascontiguousarray(flow, dtype=np.float32)


def fit(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`picture` at `size` (width, height): area averaging when it shrinks, bilinear when it grows, unchanged
    (as float32) when it is that size already."""
    picture = np.asarray(picture, dtype=np.float32)
    w, h = size
    if picture.shape[:2] == (h, w):
        return picture
    shrink = w <= picture.shape[1] and h <= picture.shape[0]
    out = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape((h, w) + picture.shape[2:])


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of `image` (H×W×C float32) at float coordinates (H'×W'), the border replicated beyond the
    edges: positions in float64, the blend in float32 (four gathers from the flattened image)."""
    h, w = image.shape[:2]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(x.astype(np.intp), max(w - 2, 0))  # x >= 0, so truncation is floor
    y0 = np.minimum(y.astype(np.intp), max(h - 2, 0))
    fx = (x - x0).astype(np.float32)[..., None]
    fy = (y - y0).astype(np.float32)[..., None]
    right, down = (1 if w > 1 else 0), (w if h > 1 else 0)
    flat = image.reshape(h * w, -1)
    i = y0 * w + x0
    top = np.take(flat, i, axis=0)
    top += (np.take(flat, i + right, axis=0) - top) * fx
    bottom = np.take(flat, i + down, axis=0)
    bottom += (np.take(flat, i + down + right, axis=0) - bottom) * fx
    top += (bottom - top) * fy
    return top


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w]
    return xs.astype(np.float64), ys.astype(np.float64)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, the border replicated; `image` H×W or H×W×C of the
    flow's size. float32 out, same shape as `image`."""
    image = np.asarray(image)
    flow = np.asarray(flow)
    if image.shape[:2] != flow.shape[:2] or flow.ndim != 3 or flow.shape[2] != 2:
        raise UsageError(f"Cannot warp a picture of shape {image.shape} by a flow of shape {flow.shape}.")
    xs, ys = _grid(*flow.shape[:2])
    flat = np.ascontiguousarray(image, dtype=np.float32).reshape(image.shape[:2] + (-1,))
    out = _sample(flat, xs + flow[..., 0], ys + flow[..., 1])
    return out.reshape(image.shape)


def inside(flow: np.ndarray) -> np.ndarray:
    """Where p + flow(p) lands inside the frame (H×W bool), edge pixels' half-pixel footprint included:
    elsewhere the other frame has no pixel for p."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Ruder et al. 2016's mask on frame t, for `backward` (t -> t-1, on frame t) and `forward` (t-1 -> t, on
    frame t-1): H×W float32, 1 = trusted, 0 = occluded, on a motion boundary, or sent out of frame t-1.

    Occluded where |w̃f + wb|² > 0.01 (|w̃f|² + |wb|²) + 0.5, with w̃f the forward flow warped by the backward one;
    a motion boundary where |∇u|² + |∇v|² > 0.01 |wb|² + 0.002, ∇ by central differences (as Ruder's code)."""
    forward = np.asarray(forward, dtype=np.float32)
    backward = np.asarray(backward, dtype=np.float32)
    if forward.shape != backward.shape or backward.ndim != 3 or backward.shape[2] != 2:
        raise UsageError(f"Forward and backward flows must both be H×W×2 of one size, not {forward.shape} "
                         f"and {backward.shape}.")
    wb = backward
    wf = warp(forward, backward)

    def norm2(v: np.ndarray) -> np.ndarray:
        return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]

    wb2 = norm2(wb)
    occluded = norm2(wf + wb) > OCCLUSION_RELATIVE * (norm2(wf) + wb2) + OCCLUSION_ABSOLUTE
    h, w = wb.shape[:2]
    edge = np.zeros((h, w), np.float32)
    for axis, n in ((0, h), (1, w)):
        if n > 1:
            edge += norm2(np.gradient(wb, axis=axis))
    boundary = edge > BOUNDARY_RELATIVE * wb2 + BOUNDARY_ABSOLUTE
    return (~occluded & ~boundary & inside(backward)).astype(np.float32)


def compose(flows: list[np.ndarray]) -> np.ndarray:
    """Several consecutive steps as one flow. `flows[0]` lives on the starting frame, each next one on the frame
    the previous step lands on (backward: [t -> t-1, t-1 -> t-2, ...]; forward likewise):
    c(p) = f0(p) + f1(p + f0(p)) + f2(p + f0(p) + f1(...)) ..."""
    if not flows:
        raise UsageError("There are no flows to compose.")
    total = np.asarray(flows[0], dtype=np.float32).copy()
    for step in flows[1:]:
        step = np.asarray(step, dtype=np.float32)
        if step.shape != total.shape:
            raise UsageError(f"Flows to compose must be of one size, not {total.shape} and {step.shape}.")
        total += warp(step, total)
    return total


def compose_masks(masks: list[np.ndarray], flows: list[np.ndarray]) -> np.ndarray:
    """The mask of `compose(flows)`, on the starting frame: the product of each step's mask (on the frame that
    step starts from, as `flows`) pulled back along the flow so far. A pixel stays trusted only where all four
    bilinear neighbours it lands between are trusted, and where each step lands inside the frame."""
    if len(masks) != len(flows) or not masks:
        raise UsageError(f"Composing masks needs one mask per flow, not {len(masks)} masks and {len(flows)} flows.")
    result = np.asarray(masks[0], dtype=np.float32).copy()
    total = None
    for mask, step in zip(masks, flows):
        step = np.asarray(step, dtype=np.float32)
        if total is not None:
            result *= (warp(mask, total) > _TRUSTED) & inside(total)
            total = total + warp(step, total)
        else:
            total = step.copy()
    result *= inside(total)
    return (result > _TRUSTED).astype(np.float32)


@dataclass(frozen=True, eq=False)  # arrays: compare fields with np.array_equal
class Motion:
    """The plate's motion into frame t: `backward` (t -> t-1, on frame t), `forward` (t-1 -> t, on frame t-1) and
    `mask` (H×W float32 on frame t, 1 = trusted). `size` is (width, height)."""

    backward: np.ndarray
    forward: np.ndarray
    mask: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return int(self.backward.shape[1]), int(self.backward.shape[0])

    @classmethod
    def from_flows(cls, forward: np.ndarray, backward: np.ndarray) -> Motion:
        return cls(backward=np.asarray(backward, dtype=np.float32), forward=np.asarray(forward, dtype=np.float32),
                   mask=consistency_mask(forward, backward))

    @classmethod
    def from_pictures(cls, prev: np.ndarray, cur: np.ndarray) -> Motion:
        """Both flows and the mask between the plate's frames t-1 (`prev`) and t (`cur`), display-referred 0-1."""
        return cls.from_flows(forward=compute_flow(prev, cur), backward=compute_flow(cur, prev))

    def pull(self, prev_picture: np.ndarray) -> np.ndarray:
        """A picture of frame t-1 (of this size) carried onto frame t along the plate's motion."""
        return warp(prev_picture, self.backward)


FramePair = Motion
