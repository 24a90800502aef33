"""The plate's motion (impasto.motion): DIS flow on known synthetic motion, backward warping, Ruder's occlusion and
motion-boundary mask, composed flows, the on-disk flow cache and the E_warp flicker measure."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from skimage import data

from impasto.errors import ImpastoError, UsageError
from impasto.motion import (
    FlowCache,
    Motion,
    compose,
    compose_masks,
    compute_flow,
    consistency_mask,
    warp,
    warp_error,
    warp_errors,
)
from impasto.motion.ewarp import worst_pairs
from impasto.motion.flow import inside

W, H = 96, 72
INNER = (slice(10, -10), slice(10, -10))


def _canvas(w: int = W + 40, h: int = H + 40) -> np.ndarray:
    return cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _pan(dx: int = 3, dy: int = 0, canvas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two frames of a camera pan: the content of frame b is frame a's moved by (dx, dy) px."""
    canvas = _canvas() if canvas is None else canvas
    a = canvas[20:20 + H, 20:20 + W]
    b = canvas[20 - dy:20 - dy + H, 20 - dx:20 - dx + W]
    return a, b


def _square_frames(x0: int = 30, step: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A textured square sliding right by `step` px over a still textured background (96×96)."""
    grey = cv2.resize(data.camera(), (96, 96), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    background = np.dstack([grey] * 3)
    patch = cv2.resize(data.astronaut()[100:300, 150:350], (24, 24), interpolation=cv2.INTER_AREA) / 255

    def frame(x: int) -> np.ndarray:
        f = background.copy()
        f[36:60, x:x + 24] = patch
        return f

    return frame(x0), frame(x0 + step)


def test_flow_of_a_known_pan_is_the_pan() -> None:
    a, b = _pan(3, 0)
    flow = compute_flow(a, b)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    error = np.hypot(flow[INNER][..., 0] - 3, flow[INNER][..., 1])
    assert np.median(error) < 0.5
    back = compute_flow(b, a)
    assert np.median(np.hypot(back[INNER][..., 0] + 3, back[INNER][..., 1])) < 0.5
    a2, b2 = _pan(0, -2)
    assert np.median(compute_flow(a2, b2)[INNER][..., 1]) == pytest.approx(-2, abs=0.5)


def test_flow_is_the_same_on_any_thread_count() -> None:
    a, b = _pan(3, 1)
    old = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = compute_flow(a, b)
        cv2.setNumThreads(4)
        four = compute_flow(a, b)
    finally:
        cv2.setNumThreads(old)
    assert np.array_equal(one, four)
    assert np.array_equal(one, compute_flow(a, b))


def test_warp_by_the_backward_flow_reproduces_the_next_frame() -> None:
    a, b = _pan(3, 0)
    motion = Motion.from_pictures(a, b)
    carried = warp(a, motion.backward)
    assert carried.shape == b.shape
    assert np.abs(carried - b)[INNER].mean() * 255 < 2.0
    assert np.abs(a - b)[INNER].mean() * 255 > 10  # the frames did differ
    assert np.array_equal(motion.pull(a), carried)


def test_warp_is_an_exact_bilinear_backward_warp() -> None:
    image = np.arange(4 * 5, dtype=np.float32).reshape(4, 5)
    flow = np.zeros((4, 5, 2), np.float32)
    flow[..., 0] = 1.0  # out(p) = image(p + (1, 0))
    out = warp(image, flow)
    assert np.array_equal(out[:, :4], image[:, 1:])
    assert np.array_equal(out[:, 4], image[:, 4])  # border replicated
    flow[..., 0], flow[..., 1] = 0.5, 0.25
    expected = 0.75 * (image[0, 0] * 0.5 + image[0, 1] * 0.5) + 0.25 * (image[1, 0] * 0.5 + image[1, 1] * 0.5)
    assert warp(image, flow)[0, 0] == pytest.approx(expected)
    rgb = np.dstack([image, image * 2, image * 3])
    assert warp(rgb, flow).shape == (4, 5, 3)
    with pytest.raises(UsageError):
        warp(rgb, flow[:3])


def test_mask_marks_what_a_sliding_square_uncovers() -> None:
    prev, cur = _square_frames(30, 6)
    motion = Motion.from_pictures(prev, cur)
    assert np.median(motion.backward[40:56, 42:56, 0]) == pytest.approx(-6, abs=1)  # the square moved 6 px
    uncovered = motion.mask[38:58, 31:36]  # background in frame t that the square covered in frame t-1
    assert uncovered.mean() < 0.1
    assert motion.mask[4:24, 4:92].min() == 1.0  # background far above the square
    assert motion.mask[76:92, 4:92].min() == 1.0  # and far below it
    assert motion.mask.dtype == np.float32 and set(np.unique(motion.mask)) <= {0.0, 1.0}


def test_consistency_mask_on_a_known_flow() -> None:
    """Ruder's criteria on flows made by hand: a still background, a block moving 4 px right."""
    h, w = 40, 40
    forward = np.zeros((h, w, 2), np.float32)  # on frame t-1: the block at x 10..20 moves +4
    forward[10:30, 10:20, 0] = 4
    backward = np.zeros((h, w, 2), np.float32)  # on frame t: the block now at x 14..24 came from -4
    backward[10:30, 14:24, 0] = -4
    mask = consistency_mask(forward, backward)
    assert mask[0:5].min() == 1 and mask[35:].min() == 1  # still background agrees
    assert mask[14:26, 16:22].min() == 1  # the inside of the block agrees
    assert mask[14:26, 10:13].max() == 0  # uncovered: background on t, the block's place on t-1 (goes +4, not 0)
    assert mask[14:26, 13:15].max() == 0  # the block's left edge: a motion boundary
    backward_bad = backward.copy()
    backward_bad[0:5, :, 1] = 3  # a flow the forward one does not undo
    assert consistency_mask(forward, backward_bad)[0:4, 5:35].max() == 0
    # flows that agree but send everything out of the frame: nothing there to trust
    assert consistency_mask(np.full_like(forward, 50.0), np.full_like(backward, -50.0)).max() == 0


def test_compose_of_two_pans_is_their_sum() -> None:
    a, b = _pan(2, 0)
    _, c = _pan(5, 1)  # frame c: the content moved 3 px right and 1 down from b
    first, second = compute_flow(a, b), compute_flow(b, c)
    total = compose([first, second])
    assert np.median(total[INNER][..., 0]) == pytest.approx(5, abs=0.5)
    assert np.median(total[INNER][..., 1]) == pytest.approx(1, abs=0.5)
    direct = compute_flow(a, c)
    assert np.median(np.hypot(*(total - direct)[INNER].transpose(2, 0, 1))) < 0.5
    const = [np.full((8, 8, 2), v, np.float32) for v in (1.0, 2.0)]
    assert np.allclose(compose(const), 3.0)
    second_step = np.zeros((8, 12, 2), np.float32)
    second_step[..., 1] = np.arange(12, dtype=np.float32)[None] * 0.1  # dy grows with x
    first_step = np.zeros_like(second_step)
    first_step[..., 0] = -2
    # the second step is read where the first one lands (x - 2), not at p
    assert np.allclose(compose([first_step, second_step])[:, 5:, 1], (np.arange(5, 12) - 2) * 0.1)
    with pytest.raises(UsageError):
        compose([])


def test_compose_masks_pulls_each_mask_along() -> None:
    h, w = 20, 20
    step = np.zeros((h, w, 2), np.float32)
    step[..., 0] = -2  # every step goes 2 px left
    ones = np.ones((h, w), np.float32)
    hole = ones.copy()
    hole[5, 10] = 0  # on the middle frame, pixel (10, 5) is untrusted
    mask = compose_masks([ones, hole], [step, step])
    assert mask[5, 12] == 0  # it lands on the hole after one step
    assert mask[5, 4:12].min() == 1 and mask[5, 13:].min() == 1
    assert mask[:, :4].max() == 0  # two steps of 2 px leave the frame
    expected = inside(compose([step, step]))
    expected[5, 12] = False
    assert np.array_equal(mask.astype(bool), expected)


def test_flow_refuses_pictures_of_different_sizes() -> None:
    a, b = _pan(3, 0)
    with pytest.raises(UsageError, match="one size"):
        compute_flow(a, b[:, :50])
    with pytest.raises(UsageError, match="too small"):
        compute_flow(a[:11, :40], b[:11, :40])
    assert compute_flow(a[:12, :12], b[:12, :12]).shape == (12, 12, 2)


class _Counting:
    def __init__(self, picture: np.ndarray) -> None:
        self.picture, self.calls = picture, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.picture


def test_cache_hits_on_the_same_plate_and_misses_on_a_changed_one(tmp_path) -> None:
    a, b = _pan(3, 0)
    cache = FlowCache(tmp_path / "flow")
    prev, cur = _Counting(a), _Counting(b)
    first = cache.get_or_compute("hash-a", "hash-b", (W, H), prev, cur)
    assert (cache.hits, cache.misses, prev.calls, cur.calls) == (0, 1, 1, 1)
    files = list((tmp_path / "flow").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "flow").glob(".*"))  # no temporary left behind
    second = cache.get_or_compute("hash-a", "hash-b", (W, H), prev, cur)
    assert (cache.hits, cache.misses, prev.calls, cur.calls) == (1, 1, 1, 1)  # not recomputed
    for name in ("backward", "forward", "mask"):  # the computed motion is the one read back, bit for bit
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert np.median(second.backward[INNER][..., 0]) == pytest.approx(-3, abs=0.5)
    again = FlowCache(tmp_path / "flow")  # a new render: another process, same folder
    again.get_or_compute("hash-a", "hash-b", (W, H), prev, cur)
    assert (again.hits, again.misses) == (1, 0)
    cache.get_or_compute("hash-a", "hash-b2", (W, H), prev, cur)  # a changed plate frame
    cache.get_or_compute("hash-a", "hash-b", (W // 2, H // 2), prev, cur)  # another paint size, fitted to it
    assert (cache.hits, cache.misses) == (1, 3)
    assert len(list((tmp_path / "flow").glob("*.npz"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_shape"])
def test_cache_recomputes_a_corrupt_file(tmp_path, damage) -> None:
    a, b = _pan(3, 0)
    cache = FlowCache(tmp_path)
    good = cache.get_or_compute("a", "b", (W, H), lambda: a, lambda: b)
    path = cache.path("a", "b", (W, H))
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache file" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with open(path, "wb") as f:
            np.savez(f, backward=np.zeros((3, 3, 2)), forward=np.zeros((3, 3, 2)), mask=np.zeros((3, 3)))
    again = cache.get_or_compute("a", "b", (W, H), lambda: a, lambda: b)
    assert (cache.hits, cache.misses) == (0, 2)
    assert np.array_equal(again.backward, good.backward) and np.array_equal(again.mask, good.mask)
    assert path.read_bytes() == raw  # replaced by a whole file
    cache.get_or_compute("a", "b", (W, H), lambda: a, lambda: b)
    assert cache.hits == 1


def test_ewarp_of_a_perfectly_warped_sequence_is_zero_and_of_an_unrelated_frame_large() -> None:
    plate = [_pan(dx, 0)[1] for dx in (0, 2, 4)]
    motions = [Motion.from_pictures(p, c) for p, c in itertools.pairwise(plate)]
    plate_errors = warp_errors(plate, motions)
    assert len(plate_errors) == 2 and max(plate_errors) < 3.0  # the plate itself, warped by its own flow
    # a "painting" that moves exactly with the plate's flow: frame t is frame t-1 carried by the backward flow
    painted = [plate[0] * 0.5 + 0.25]
    for motion in motions:
        painted.append(warp(painted[-1], motion.backward))
    assert max(warp_errors(painted, motions)) < 1e-3
    unrelated = np.roll(np.roll(painted[1], 30, axis=0), 40, axis=1)
    assert warp_error(painted[0], unrelated, motions[0]) > 20
    flickering = [painted[0], painted[1] + 0.1, painted[2]]  # frame 1 brighter by 0.1: 25.5 levels
    errors = warp_errors(flickering, motions)
    assert errors[0] == pytest.approx(25.5, abs=1.0) and errors[1] == pytest.approx(25.5, abs=1.0)
    assert worst_pairs([1.0, float("nan"), 3.0, 2.0], 2) == [2, 3]


def test_ewarp_fits_pictures_of_another_size_and_needs_a_motion_per_pair() -> None:
    a, b = _pan(3, 0)
    motion = Motion.from_pictures(a, b)
    big_a = cv2.resize(a, (W * 2, H * 2), interpolation=cv2.INTER_LINEAR)
    big_b = cv2.resize(b, (W * 2, H * 2), interpolation=cv2.INTER_LINEAR)
    assert warp_error(big_a, big_b, motion) == pytest.approx(warp_error(a, b, motion), abs=1.0)
    with pytest.raises(UsageError, match="motion"):
        warp_errors([a, b, a], [motion])
    nothing = Motion(backward=motion.backward, forward=motion.forward, mask=np.zeros_like(motion.mask))
    assert np.isnan(warp_error(a, b, nothing))


def test_cache_that_cannot_be_written_is_one_sentence(tmp_path) -> None:
    a, b = _pan(3, 0)
    blocker = tmp_path / "flow"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ImpastoError, match="flow cache folder"):
        FlowCache(blocker).get_or_compute("a", "b", (W, H), lambda: a, lambda: b)
