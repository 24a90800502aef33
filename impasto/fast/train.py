"""Train a fast model for one style over a range of u, on a shot's own frames plus a few general pictures.

The loss is the engine's Gatys loss (see `impasto.fast.loss`). Each image of a batch gets its own u, drawn
stratified over the range, and its engine loss content + ratio × style (+ TV) at that u. The ratio a crop is
trained with is the whole frame's at the paint size (the reference-size rule at the frame's long edge), scaled
by the crop's share of the frame's pixels: the content term is a sum over pixels and the style term is not, so
this keeps each pixel's balance of content and style what the optimisation sees on the full frame.

Ratios span 10² to 10⁶ and more over a u range, so the objective is the mean of log(loss / unpainted crop's
loss): its gradient is each u's loss gradient over that u's current loss, so every u pulls alike in *relative*
terms, which is what the quality target measures (the fast loss over the optimisation's, u by u). Progress
reports loss / unpainted loss per u bucket (1.0 = no better than the frame itself).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from impasto.progress import TrainProgress  # the training-step scope of the one progress model
from impasto.devices import resolve_device
from impasto.errors import ImpastoError, UsageError
from impasto.fast.core import (
    FORMAT,
    FORMAT_VERSION,
    FastModel,
    _read,
    save_dict,
    style_identity,
    u_to_t,
)
from impasto.fast.loss import GatysLoss
from impasto.fast.model import PRESETS, FastStyleNet
from impasto.io.frames import read_frame
from impasto.io.sequence import (
    DEFAULT_FIRST_FRAME,
    FramePattern,
    format_frame_range,
    is_movie,
    is_near_black,
    movie_frame_count,
    split_movie_range,
    spread,
    spread_movie_frames,
)
from impasto.io.tensors import fit_size, resize, to_tensor
from impasto.look import Look
from impasto.shot.config import ColourSettings, Shot, default_input_space, load_shot
from impasto.shot.source import PlateSource, display_picture
from impasto.version import __version__

GENERAL_SAMPLES = ("astronaut", "chelsea", "coffee", "rocket")
MIN_CROP = 32
OBJECTIVES = ("log", "linear")


@dataclass
class TrainSettings:
    """How to train; the defaults suit a short CPU run, `impasto fast train --help` lists them."""

    u_range: tuple[float, float] = (2.0, 6.0)
    steps: int = 2000
    batch: int = 4
    crop: int = 256
    lr: float = 2e-3
    objective: str = "log"  # "log" (mean log relative loss) or "linear" (mean relative loss; the first recipe)
    preset: str = "small"
    size: int | None = None  # paint long edge; default the look's size
    general_fraction: float = 0.25  # share of crops from scikit-image's bundled photos
    buckets: int = 4  # u buckets the progress reports a loss for
    checkpoint_every: int = 50
    time_limit: float | None = None  # seconds; stop (and save) after this long even if steps remain
    seed: int = 0
    device: str = "auto"
    compile: bool | None = None  # torch.compile the network; default on CUDA
    amp: bool | None = None  # bf16 autocast; default on CUDA

    def check(self) -> None:
        lo, hi = self.u_range
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            raise UsageError(f"The u range {lo:g}:{hi:g} must go from a lower to a higher u, like 2:6.")
        if lo < -2 or hi > 10:
            raise UsageError(f"The u range {lo:g}:{hi:g} must lie within -2 to 10.")
        if self.preset not in PRESETS:
            raise UsageError(f"Unknown network preset '{self.preset}'; use one of {', '.join(PRESETS)}.")
        if self.steps < 1 or self.batch < 1:
            raise UsageError("Steps and batch size must be at least 1.")
        if self.crop < MIN_CROP or self.crop % 4:
            raise UsageError(f"The crop must be a multiple of 4 and at least {MIN_CROP} px, not {self.crop}.")
        if self.objective not in OBJECTIVES:
            raise UsageError(f"Unknown training objective '{self.objective}'; use one of {', '.join(OBJECTIVES)}.")
        if not 0.0 <= self.general_fraction <= 1.0:
            raise UsageError("The general-image fraction must lie between 0 and 1.")


@dataclass
class TrainResult:
    model: FastModel
    path: Path
    steps: int
    resumed_from: int
    seconds: float
    first: dict[str, float] = field(default_factory=dict)  # per-bucket loss over the first steps
    last: dict[str, float] = field(default_factory=dict)  # and at the end
    history: list[tuple[int, float]] = field(default_factory=list)


def checkpoint_path(output: str | os.PathLike) -> Path:
    """`<model file>.ckpt` beside the model file."""
    output = Path(output)
    return output.with_name(output.name + ".ckpt")


def general_images() -> list[np.ndarray]:
    """A few of scikit-image's bundled colour photos (no download), float32 0-1."""
    from skimage import data  # deferred: scikit-image is slow to import and only training wants it

    out = []
    for name in GENERAL_SAMPLES:
        img = getattr(data, name)()
        out.append(np.asarray(img, dtype=np.float32)[:, :, :3] / 255.0)
    return out


def bucket_labels(u_range: tuple[float, float], n: int) -> list[str]:
    lo, hi = u_range
    edges = [lo + (hi - lo) * i / n for i in range(n + 1)]
    return [f"u{edges[i]:.3g}-{edges[i + 1]:.3g}" for i in range(n)]


def _bucket(u: float, u_range: tuple[float, float], n: int) -> int:
    lo, hi = u_range
    return min(n - 1, max(0, int((u - lo) / (hi - lo) * n)))


class _Crops:
    """Random square crops (with flips) from the shot's frames and the general set, as one N×3×S×S batch."""

    def __init__(self, frames: Sequence[np.ndarray], general: Sequence[np.ndarray], edge: int, crop: int,
                 general_fraction: float, device: torch.device) -> None:
        def prep(rgb: np.ndarray) -> torch.Tensor:
            t = to_tensor(rgb, torch.device("cpu"))
            return resize(t, fit_size(*rgb.shape[:2], edge))

        self.frames = [prep(f) for f in frames]
        self.general = [prep(g) for g in general]
        smallest = min(min(t.shape[-2:]) for t in self.frames + self.general)
        self.crop = min(crop, smallest - smallest % 4)
        # Pixels of a whole frame at the paint size: a crop's ratio is the frame's × crop pixels / frame pixels.
        ref = (self.frames or self.general)[0]
        self.frame_pixels = int(ref.shape[-2] * ref.shape[-1])
        self.frame_edge = int(max(ref.shape[-2:]))
        self.fraction = general_fraction if self.general else 0.0
        if not self.frames:
            self.fraction = 1.0
        self.device = device

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        out = []
        for _ in range(n):
            pool = self.general if float(torch.rand((), generator=gen)) < self.fraction else self.frames
            img = pool[int(torch.randint(len(pool), (), generator=gen))]
            h, w = img.shape[-2:]
            y = int(torch.randint(h - self.crop + 1, (), generator=gen))
            x = int(torch.randint(w - self.crop + 1, (), generator=gen))
            c = img[:, :, y:y + self.crop, x:x + self.crop]
            if float(torch.rand((), generator=gen)) < 0.5:
                c = c.flip(-1)
            out.append(c)
        return torch.cat(out).to(self.device).contiguous()


def crop_ratios(loss_fn: GatysLoss, us: Sequence[float], crop: int, frame_pixels: int, frame_edge: int) -> list[float]:
    """Style ratio for a crop × crop training crop at each u: the whole frame's ratio at the paint size (long edge
    `frame_edge`) × the crop's share of the frame's pixels, which keeps each pixel's content/style balance."""
    share = crop * crop / frame_pixels
    return [loss_fn.ratio(float(u), frame_edge) * share for u in us]


def _stratified_u(n: int, u_range: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """n values of u covering the range evenly (one per stratum, shuffled)."""
    lo, hi = u_range
    t = (torch.arange(n, dtype=torch.float32) + torch.rand(n, generator=gen)) / n
    return (lo + (hi - lo) * t)[torch.randperm(n, generator=gen)]


def train(
    look: Look,
    style_rgbs: Sequence[np.ndarray],
    frames: Sequence[np.ndarray],
    output: str | os.PathLike,
    settings: TrainSettings | None = None,
    *,
    style_paths: Sequence[str] = (),
    sources: dict[str, Any] | None = None,
    resume: bool = True,
    general: Sequence[np.ndarray] | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TrainResult:
    """Train (or resume) a fast model for `look`'s style over `settings.u_range`; writes `output` and its checkpoint.

    `frames` are display-referred float H×W×3 0-1 pictures of the shot; `general` defaults to scikit-image's
    samples (pass [] to train on the frames alone).
    """
    settings = settings or TrainSettings()
    settings.check()
    if not style_rgbs:
        raise UsageError("Give at least one style image.")
    if not frames and not (general or general is None):
        raise UsageError("Give some frames to train on.")
    run = _Training(look, style_rgbs, frames, settings, general, style_paths, sources)
    ckpt_path = checkpoint_path(output)
    if resume and ckpt_path.exists():
        run.resume(ckpt_path)
    run.resumed_from = run.step
    try:
        run.loop(ckpt_path, progress)
    except KeyboardInterrupt:
        if run.step > run.resumed_from:
            run.save_checkpoint(ckpt_path)
        raise
    run.net.eval()
    model = run.model()
    model.save(output)
    run.save_checkpoint(ckpt_path)  # a later run with more --steps continues from here
    return TrainResult(model=model, path=Path(output), steps=run.step, resumed_from=run.resumed_from,
                       seconds=time.perf_counter() - run.start_time, first=run.first, last=dict(run.smooth),
                       history=run.history)


class _Training:
    """One training run's state: network, optimiser, random streams, per-bucket losses; steps and checkpoints."""

    def __init__(self, look: Look, style_rgbs: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                 settings: TrainSettings, general: Sequence[np.ndarray] | None, style_paths: Sequence[str],
                 sources: dict[str, Any] | None) -> None:
        self.look, self.settings, self.frames = look, settings, frames
        self.style_paths, self.sources = style_paths, sources
        self.dev = resolve_device(settings.device)
        cuda = self.dev.type == "cuda"
        self.amp = cuda if settings.amp is None else settings.amp
        self.use_compile = cuda if settings.compile is None else settings.compile
        self.edge = int(settings.size or look.size)
        self.start_time = time.perf_counter()

        # The order below fixes the random streams (crops, network init): golden renders depend on it.
        torch.manual_seed(settings.seed)
        self.gen = torch.Generator().manual_seed(settings.seed)
        general = general_images() if general is None else list(general)
        self.crops = _Crops(frames, general, self.edge, settings.crop, settings.general_fraction, self.dev)
        self.loss_fn = GatysLoss(look, style_rgbs, self.edge, self.dev, match_to=frames[0] if frames else None)
        self.style_id = style_identity(style_rgbs, look, self.loss_fn.origin)
        config = PRESETS[settings.preset]
        self.net = FastStyleNet(config).to(self.dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        self.labels = bucket_labels(settings.u_range, settings.buckets)
        self.smooth: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self.history: list[tuple[int, float]] = []
        self.step = 0
        self.resumed_from = 0
        # "recipe" 2: crop ratio from the frame's pixels (a checkpoint of the first recipe does not resume into it).
        self.identity = {"recipe": 2, "objective": settings.objective, "style_id": self.style_id,
                         "u_range": [float(v) for v in settings.u_range], "config": config.as_dict(), "size": self.edge,
                         "crop": self.crops.crop}

    def resume(self, ckpt_path: Path) -> None:
        state = _read(ckpt_path)
        saved = state.get("identity", {})
        if saved != self.identity:
            raise UsageError(
                f"Checkpoint '{ckpt_path}' is for another training (style, u range, network, size or crop differ); "
                f"pass --fresh to start over."
            )
        self.net.load_state_dict(state["state"])
        self.opt.load_state_dict(state["optimizer"])
        for group in self.opt.param_groups:  # the optimizer state carries the old rate: --lr applies on resume too
            group["lr"] = self.settings.lr
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.smooth = dict(state.get("smooth", {}))
        self.first = dict(state.get("first", {}))
        self.history = [tuple(h) for h in state.get("history", [])]

    def model(self) -> FastModel:
        s, crops = self.settings, self.crops
        record = {
            "steps": self.step, "batch": s.batch, "crop": crops.crop, "lr": s.lr, "preset": s.preset,
            "objective": s.objective,
            "general_fraction": crops.fraction, "frames": len(self.frames), "device": str(self.dev), "amp": self.amp,
            "compile": bool(self.use_compile), "seconds": round(time.perf_counter() - self.start_time, 1),
            "impasto": __version__, "torch": torch.__version__, "buckets": dict(self.smooth),
            "first_buckets": dict(self.first), **(self.sources or {}),
        }
        return FastModel(net=self.net, u_range=s.u_range, style_id=self.style_id, size=self.edge,
                         weights_origin=self.loss_fn.origin, look=self.look, styles=[str(p) for p in self.style_paths],
                         record=record)

    def save_checkpoint(self, ckpt_path: Path) -> None:
        data = self.model().to_dict()
        data.update(identity=self.identity, optimizer=self.opt.state_dict(), generator=self.gen.get_state(),
                    torch_rng=torch.get_rng_state(), step=self.step, smooth=self.smooth, first=self.first,
                    history=[list(h) for h in self.history])
        save_dict(ckpt_path, data)

    def loop(self, ckpt_path: Path, progress: Callable[[TrainProgress], None] | None) -> None:
        s = self.settings
        train_net: Any = torch.compile(self.net) if self.use_compile else self.net
        self.net.train()
        while self.step < s.steps:
            us, norm, value = self.train_step(train_net)
            self.note(us, norm, value)
            if progress is not None:
                progress(TrainProgress(done=self.step, total=s.steps, loss=value,
                                       buckets={k: self.smooth[k] for k in self.labels if k in self.smooth},
                                       elapsed=time.perf_counter() - self.start_time, resumed_from=self.resumed_from,
                                       time_limit=s.time_limit))
            if self.step % s.checkpoint_every == 0 and self.step < s.steps:
                self.save_checkpoint(ckpt_path)
            if s.time_limit is not None and time.perf_counter() - self.start_time > s.time_limit:
                break

    def train_step(self, train_net: Any) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One optimiser step; the batch's u values, normalised losses and their mean."""
        s, crops, loss_fn, dev = self.settings, self.crops, self.loss_fn, self.dev
        x = crops.sample(s.batch, self.gen)
        us = _stratified_u(s.batch, s.u_range, self.gen)
        t = u_to_t(us, s.u_range).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.amp):
            content_feats, base_s, base_t = loss_fn.reference(x)
            y = train_net(x, t)
            c, st, tv = loss_fn.terms(y, content_feats)
        ratios = torch.tensor(crop_ratios(loss_fn, us.tolist(), crops.crop, crops.frame_pixels, crops.frame_edge),
                              device=dev)
        tvw = self.look.tv_weight
        total = c.float() + ratios * st.float() + tvw * tv.float()
        # Relative to the unpainted crop's own loss at that u (1.0 = no better than the frame).
        base = (ratios * base_s.float() + tvw * base_t.float()).clamp_min(1e-12)
        norm = total / base
        loss = norm.clamp_min(1e-12).log().mean() if s.objective == "log" else norm.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        value = float(norm.detach().mean())
        if not math.isfinite(value) or not math.isfinite(float(loss.detach())):
            raise ImpastoError(f"Training diverged at step {self.step} (loss {value}); try a lower --lr.")
        return us, norm, value

    def note(self, us: torch.Tensor, norm: torch.Tensor, value: float) -> None:
        """Record a step's loss in the history and the smoothed per-bucket losses."""
        s = self.settings
        self.history.append((self.step, value))
        for u, v in zip(us.tolist(), norm.detach().tolist()):
            label = self.labels[_bucket(u, s.u_range, s.buckets)]
            self.smooth[label] = v if label not in self.smooth else 0.9 * self.smooth[label] + 0.1 * v
            self.first.setdefault(label, v)


def read_training_frames(plate: str, *, max_frames: int = 24, input_space: str | None = None,
                         frames: list[int] | None = None, first_frame: int = DEFAULT_FIRST_FRAME
                         ) -> tuple[list[np.ndarray], list[str]]:
    """Display-referred 0-1 frames from a shot file (`cs010.toml`: its plate through its own `[colour]`, the
    pictures its render paints), a frame pattern (`plate.####.exr`), a movie or one image, up to `max_frames`
    spread evenly over the shot's range (`frames`, or a movie's `clip.mov@1040-1100`; default: all of it), passing
    over near-black frames (fades, slugs) to the next one that is not; every frame must have the shot's size.
    A movie's frames are numbered from `first_frame`. Returns (frames, their names: `clip.mov@1040`, `p.1001.exr`)."""
    if plate.endswith(".toml"):
        return _shot_frames(load_shot(plate), max_frames, frames)
    names: list[str] = []
    ranged = split_movie_range(plate)
    if ranged is not None:
        plate, frames = str(ranged[0]), frames or ranged[1]
    if is_movie(plate):
        wanted = frames or list(range(first_frame, first_frame + movie_frame_count(plate)))
        kept, black = spread_movie_frames(plate, wanted, max_frames, first_frame=first_frame)
        if not kept:
            dark = f"; frames {format_frame_range(black)} are near black" if black else ""
            raise UsageError(f"Movie '{plate}' gave no frames to train on in {format_frame_range(wanted)}{dark}.")
        return [rgb for _, rgb in kept], [f"{Path(plate).name}@{n}" for n, _ in kept]
    space = input_space or default_input_space(plate)
    if any(ch in Path(plate).name for ch in "#@") or "%" in Path(plate).name:
        pattern = FramePattern(plate)
        numbers = frames or pattern.frames_on_disk()
        numbers = [n for n in numbers if pattern.path(n).is_file()]
        if not numbers:
            raise UsageError(f"No frames match '{plate}'.")
        slots = _slots(numbers, max_frames)
        paths = [[pattern.path(n) for n in slot] for slot in slots]
    else:
        paths = [[Path(plate)]]
    out, size, first_name = [], None, None
    for candidates in paths:
        rgb, p = _first_not_black(candidates, space)
        if rgb is None:
            continue
        if size is None:
            size, first_name = rgb.shape[:2], p.name
        elif rgb.shape[:2] != size:
            raise UsageError(
                f"Plate frame '{p.name}' is {rgb.shape[1]}×{rgb.shape[0]} but '{first_name}' is {size[1]}×{size[0]}; "
                "a shot needs one resolution, so conform the plate first."
            )
        out.append(rgb)
        names.append(p.name)
    if not out:
        raise UsageError(f"Every frame of '{plate}' looked at is near black; nothing to train on.")
    return out, names


def _slots(numbers: list[int], count: int) -> list[list[int]]:
    """`numbers` cut into up to `count` runs, each starting at one of `spread`'s evenly spaced picks."""
    picks = spread(numbers, count)
    starts = [numbers.index(p) for p in picks] + [len(numbers)]
    return [numbers[a:b] for a, b in itertools.pairwise(starts)]


def _shot_frames(shot: Shot, max_frames: int, frames: list[int] | None) -> tuple[list[np.ndarray], list[str]]:
    """A shot file's frames to train on, read by its `PlateSource`: the display pictures its render paints."""
    with PlateSource(shot) as source:
        numbers = frames or shot.frame_list()
        gone = set(source.missing_plates(numbers))
        numbers = [n for n in numbers if n not in gone]
        if not numbers:
            raise UsageError(f"No plate frame of shot {shot.name} is there ('{shot.plate}').")
        out, names = [], []
        for slot in _slots(numbers, max_frames):
            for n in slot:
                rgb = np.clip(source.picture(n), 0.0, 1.0).astype(np.float32)
                if not is_near_black(rgb):
                    out.append(rgb)
                    names.append(f"{shot.name}@{n}")
                    break
    if not out:
        raise UsageError(f"Every frame of shot {shot.name} looked at is near black; nothing to train on.")
    return out, names


def _first_not_black(paths: list[Path], space: str) -> tuple[np.ndarray | None, Path]:
    """The first of `paths` (a slot of the spread) whose frame is not near black, read as the network sees it."""
    for p in paths:
        rgb = _display_frame(p, space)
        if not is_near_black(rgb):
            return rgb, p
    return None, paths[0]


def _display_frame(path: Path, space: str) -> np.ndarray:
    """A plate frame as the display-referred 0-1 picture the network sees, through the one plate-to-display path
    (impasto.shot.source) with the default display and view of the plate's colour space."""
    picture = display_picture(read_frame(path), ColourSettings(input_space=space))
    return np.clip(picture, 0.0, 1.0).astype(np.float32)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TrainProgress",
    "TrainResult",
    "TrainSettings",
    "checkpoint_path",
    "crop_ratios",
    "general_images",
    "read_training_frames",
    "train",
]
