"""Render a shot's frames across a Ray cluster: the same per-frame units and manifest as a local render.

The driver plans the shot (`impasto.shot.plan`: which frames still need painting, grouped into units: runs of
`frames_per_task` frames, or at boil > 0 the keyframes and then each chunk) and hands the units to a pool of Ray
actors, one per worker slot (one per GPU, or per `cpus_per_frame` CPUs). Each actor builds one `ShotRenderer`
for its life, so the network and the style targets load once per process, and runs a unit through the one frame
loop (`impasto.shot.loop.run_unit`): each frame claimed, painted, written under a temporary name and renamed, and
the manifest beside the outputs updated under its file lock, exactly as a local render does.

Faults: a worker process that dies is restarted by Ray (`max_restarts`) and its unit retried on it
(`max_task_retries`); a retried unit re-reads the manifest and skips frames that an earlier attempt of this
run already finished (done or failed), so nothing is painted twice and a frame that failed on bad input is
not retried. An actor that is gone for good (its node died, restarts exhausted) has its unit re-queued on
the others. Ctrl-C cancels the units in flight (Ray's cancellation flag is checked every iteration, so the
frame in flight is dropped before it is written) and leaves finished frames in place.

Nothing here prints: progress goes to a callback as `impasto.progress.FrameEvent`s (their worker fields filled), fed by a small progress actor that the
workers post each frame's start and end to.

Modules: `connection` (Ray, and reaching a cluster), `worker` (the actors), `driver` (the run). Only what is Ray's
lives here: the plan, the frame loop and the frame pipeline are the shot layer's, the same as a local render's.
"""

from impasto.cluster.connection import INSTALL_HINT, connect, require_ray
from impasto.cluster.driver import (
    ClusterEvent,
    ClusterOptions,
    ClusterProgress,
    ClusterReport,
    check_cluster,
    plan_workers,
    render_on_cluster,
)
from impasto.cluster.worker import FrameWorker, ProgressBox, WorkerMismatch

__all__ = ["INSTALL_HINT", "ClusterEvent", "ClusterOptions", "ClusterProgress", "ClusterReport", "FrameWorker",
           "ProgressBox", "WorkerMismatch", "check_cluster", "connect", "plan_workers", "render_on_cluster",
           "require_ray"]
