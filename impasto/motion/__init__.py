"""The plate's motion: optical flow (OpenCV DIS), Ruder et al.'s consistency mask, a flow cache keyed by the plate
frames' hashes, and the E_warp flicker measure. Pure numpy/OpenCV, at the io layer: it knows nothing of shots."""

from impasto.motion.cache import FlowCache
from impasto.motion.ewarp import warp_error, warp_errors, worst_pairs
from impasto.motion.flow import (
    ALGORITHM,
    FramePair,
    Motion,
    compose,
    compose_masks,
    compute_flow,
    consistency_mask,
    warp,
)

__all__ = ["ALGORITHM", "FlowCache", "FramePair", "Motion", "compose", "compose_masks", "compute_flow",
           "consistency_mask", "warp", "warp_error", "warp_errors", "worst_pairs"]
