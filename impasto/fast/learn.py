"""A painter learned from paintings impasto made: supervised, pixel by pixel, on patches (Texler et al. 2020).

The fast model of `impasto.fast.train` learns the style from scratch through the Gatys loss, which on a CPU does
not get near the optimisation. Here the optimisation has already painted: a sweep paints one frame at many u, a
shot paints its keyframes. A small fully convolutional network (`PRESETS["learned"]`: no normalisation, so a
patch and a whole frame paint alike) learns to map the frame to those paintings, on random patches, with a pixel
loss (L1) and a VGG feature loss (each layer's mean absolute difference over the target's mean magnitude). It is
conditioned on u (FiLM, as the Come Swim paper proposes), so a sweep's painter paints the u values between the
swept ones; a shot's painter is trained at the look's one u.

The Gatys loss of the look can be added as a regulariser (`gatys_weight`, at u drawn over the range, so the u
values between examples are pulled toward what the optimisation would paint there).

A learned model is an ordinary fast model file (`impasto.fast.core`, `record["kind"] == "learned"`): `fast
stylize`, `fast sweep`, `fast compare`, `fast export`, `render --fast` and the studio take it as they take one
trained by `fast train`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from impasto.devices import resolve_device
from impasto.errors import ImpastoError, UsageError
from impasto.fast.core import FastModel, _read, save_dict, style_identity, u_to_t
from impasto.fast.loss import GatysLoss
from impasto.fast.model import MULTIPLE, PRESETS, FastStyleNet, positional_guide
from impasto.fast.train import checkpoint_path, crop_ratios
from impasto.io.tensors import resize, to_array, to_tensor
from impasto.look import Look
from impasto.progress import TrainProgress
from impasto.version import __version__

KIND = "learned"  # FastModel.record["kind"] of a painter learned from paintings
RECIPE = 1  # bump when a checkpoint of an older recipe must not resume into this one
# What the feature loss compares: relu4_1 too made a step 3× dearer on a CPU for little (bench/learned.py).
FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@dataclass(frozen=True)
class Example:
    """One painting to learn from: a frame as the painter sees it (display-referred H×W×3, 0-1), the
    optimisation's painting of it at `u` (same size: the paint size), and a name for messages and records."""

    content: np.ndarray
    painting: np.ndarray
    u: float
    name: str = ""

    def digest(self) -> str:
        """A short hash of both pictures (8-bit) and u: what a checkpoint and a shot's painter are keyed on."""
        h = hashlib.sha256()
        for a in (self.content, self.painting):
            a = np.asarray(a, dtype=np.float32)
            h.update(str(a.shape).encode())
            h.update(np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8).tobytes())
        h.update(f"{self.u:.6g}".encode())
        return h.hexdigest()[:16]


@dataclass
class LearnSettings:
    """How to learn; the defaults suit a few minutes on a 2-core CPU at 256 px (`impasto fast learn --help`)."""

    steps: int = 600
    batch: int = 8
    patch: int = 64  # patch edge, px of the paint size
    lr: float = 2e-3
    preset: str = "learned"
    pixel_weight: float = 1.0
    feature_weight: float = 1.0
    feature_layers: tuple[str, ...] = FEATURE_LAYERS
    gram_weight: float = 0.0  # Gram matrices of the patch's features against its painting's: its texture, not its pixels
    gatys_weight: float = 0.0  # the look's own loss at u drawn over the range, as a regulariser (0: off)
    checkpoint_every: int = 100
    time_limit: float | None = None  # seconds; stop (and save) after this long even if steps remain
    seed: int = 0
    device: str = "auto"

    def check(self) -> None:
        if self.preset not in PRESETS:
            raise UsageError(f"Unknown network preset '{self.preset}'; use one of {', '.join(PRESETS)}.")
        if self.steps < 1 or self.batch < 1:
            raise UsageError("Steps and batch size must be at least 1.")
        if self.patch < 16 or self.patch % MULTIPLE:
            raise UsageError(f"The patch must be a multiple of {MULTIPLE} and at least 16 px, not {self.patch}.")
        if min(self.pixel_weight, self.feature_weight, self.gram_weight, self.gatys_weight) < 0:
            raise UsageError("Loss weights must not be negative.")
        if self.pixel_weight == 0 and self.feature_weight == 0:
            raise UsageError("Give the pixel or the feature loss a weight above 0: the painter learns from them.")
        if self.lr <= 0:
            raise UsageError("The learning rate must be above 0.")


@dataclass
class LearnResult:
    model: FastModel
    path: Path
    steps: int
    resumed_from: int
    seconds: float
    first: float = math.nan  # smoothed loss over the first steps
    last: float = math.nan  # and at the end
    history: list[tuple[int, float]] = field(default_factory=list)


def u_range_of(examples: Sequence[Example]) -> tuple[float, float]:
    """The u range a painter learned from `examples` covers: from the lowest example's u to the highest."""
    us = [float(e.u) for e in examples]
    return min(us), max(us)


MAX_ANCHORS = 33


def anchor_count(us: Sequence[float]) -> int:
    """Anchor tables for examples at `us`: evenly spaced over their range at the closest spacing of two distinct
    values (2:6 in steps of 2 -> 3, at 2, 4 and 6), so every example's u has its own table; 0 for one u."""
    values = sorted(set(round(float(u), 6) for u in us))
    if len(values) < 2:
        return 0
    gap = min(b - a for a, b in zip(values, values[1:]))
    return int(min(MAX_ANCHORS, round((values[-1] - values[0]) / gap) + 1))


def check_examples(examples: Sequence[Example]) -> None:
    """One sentence for what cannot be learned from: no examples, pictures of two sizes, a painting whose size
    differs from its frame's, or pictures that are not H×W×3."""
    if not examples:
        raise UsageError("There are no paintings to learn from.")
    size = None
    for e in examples:
        for what, a in (("frame", e.content), ("painting", e.painting)):
            a = np.asarray(a)
            if a.ndim != 3 or a.shape[2] != 3:
                raise UsageError(f"The {what} of {e.name or 'an example'} must be H×W×3 RGB, not shape {a.shape}.")
        if e.content.shape != e.painting.shape:
            raise UsageError(f"The painting of {e.name or 'an example'} is {e.painting.shape[1]}×{e.painting.shape[0]} but "
                             f"its frame is {e.content.shape[1]}×{e.content.shape[0]}; give both at the paint size.")
        if size is None:
            size = e.content.shape[:2]
        elif e.content.shape[:2] != size:
            raise UsageError(f"{e.name or 'An example'} is {e.content.shape[1]}×{e.content.shape[0]} but the first is "
                             f"{size[1]}×{size[0]}; paintings to learn from share one paint size.")
    if not all(math.isfinite(float(e.u)) for e in examples):
        raise UsageError("Every painting to learn from needs a finite u.")


def learn(
    look: Look,
    style_rgbs: Sequence[np.ndarray],
    examples: Sequence[Example],
    output: str | os.PathLike,
    settings: LearnSettings | None = None,
    *,
    style_paths: Sequence[str] = (),
    sources: dict[str, Any] | None = None,
    resume: bool = True,
    progress: Callable[[TrainProgress], None] | None = None,
) -> LearnResult:
    """Learn (or resume learning) a painter of `look` from `examples` (paintings of that look); writes `output`
    (a fast model file) and its checkpoint `<output>.ckpt`. `style_rgbs` are the look's style images: they make
    the model's style identity (so it is refused for another look, as any fast model is) and, with
    `settings.gatys_weight`, the regulariser's targets. The caller checks the paintings are of `look`."""
    settings = settings or LearnSettings()
    settings.check()
    check_examples(examples)
    if not style_rgbs:
        raise UsageError("Give the look's style images.")
    run = _Learning(look, style_rgbs, examples, settings, style_paths, sources)
    ckpt = checkpoint_path(output)
    if resume and ckpt.exists():
        run.resume(ckpt)
    run.resumed_from = run.step
    try:
        run.loop(ckpt, progress)
    except KeyboardInterrupt:
        if run.step > run.resumed_from:
            run.save_checkpoint(ckpt)
        raise
    run.net.eval()
    model = run.model()
    model.save(output)
    run.save_checkpoint(ckpt)  # a later run with more steps continues from here
    return LearnResult(model, Path(output), run.step, run.resumed_from, time.perf_counter() - run.start_time,
                       run.first, run.smooth, run.history)


class _Learning:
    """One learning run's state: pictures as tensors, network, optimiser, random stream; steps and checkpoints."""

    def __init__(self, look: Look, style_rgbs: Sequence[np.ndarray], examples: Sequence[Example],
                 settings: LearnSettings, style_paths: Sequence[str], sources: dict[str, Any] | None) -> None:
        self.look, self.settings, self.examples = look, settings, list(examples)
        self.style_paths, self.sources = list(style_paths), dict(sources or {})
        self.dev = resolve_device(settings.device)
        self.start_time = time.perf_counter()
        torch.manual_seed(settings.seed)  # the network's initial weights
        self.gen = torch.Generator().manual_seed(settings.seed)
        cpu = torch.device("cpu")
        self.contents = [to_tensor(np.asarray(e.content, dtype=np.float32), cpu) for e in self.examples]
        self.paintings = [to_tensor(np.asarray(e.painting, dtype=np.float32), cpu) for e in self.examples]
        h, w = self.contents[0].shape[-2:]
        self.patch = min(settings.patch, (min(h, w) // MULTIPLE) * MULTIPLE)
        config = dataclasses.replace(PRESETS[settings.preset], anchors=anchor_count([float(e.u) for e in self.examples]))
        # Position channels of the whole frame, cropped with each patch (a frame's painting puts strokes somewhere).
        self.guide = positional_guide(h, w, config.positional, self.contents[0]) if config.positional else None
        self.edge = int(max(h, w))
        self.u_range = u_range_of(self.examples)
        self.us = torch.tensor([float(e.u) for e in self.examples])
        # The style loss's network serves the feature loss too: one VGG in memory.
        self.loss_fn = GatysLoss(look, style_rgbs, self.edge, self.dev, match_to=self.examples[0].content)
        self.style_id = style_identity(style_rgbs, look, self.loss_fn.origin)
        self.net = FastStyleNet(config).to(self.dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        self.step = self.resumed_from = 0
        self.smooth = math.nan
        self.first = math.nan
        self.history: list[tuple[int, float]] = []
        self.identity = {"recipe": RECIPE, "style_id": self.style_id, "config": config.as_dict(), "patch": self.patch,
                         "examples": sorted(e.digest() for e in self.examples),
                         "weights": [settings.pixel_weight, settings.feature_weight, settings.gram_weight, settings.gatys_weight],
                         "layers": list(settings.feature_layers)}

    # ---------------------------------------------------------------- state on disk
    def resume(self, ckpt: Path) -> None:
        state = _read(ckpt)
        if state.get("identity") != self.identity:
            raise UsageError(f"Checkpoint '{ckpt}' is for other paintings, another network or other loss weights; "
                             "pass --fresh to start over.")
        self.net.load_state_dict(state["state"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.smooth, self.first = float(state["smooth"]), float(state["first"])
        self.history = [tuple(h) for h in state.get("history", [])]

    def model(self) -> FastModel:
        s = self.settings
        record = {
            "kind": KIND, "steps": self.step, "batch": s.batch, "patch": self.patch, "lr": s.lr, "preset": s.preset,
            "weights": {"pixel": s.pixel_weight, "features": s.feature_weight, "texture": s.gram_weight,
                        "gatys": s.gatys_weight}, "feature_layers": list(s.feature_layers),
            "examples": [{"name": e.name, "u": float(e.u), "digest": e.digest()} for e in self.examples],
            "loss": self.smooth, "first_loss": self.first, "device": str(self.dev),
            "seconds": round(time.perf_counter() - self.start_time, 1), "impasto": __version__,
            "torch": torch.__version__, **self.sources,
        }
        return FastModel(net=self.net, u_range=self.u_range, style_id=self.style_id, size=self.edge,
                         weights_origin=self.loss_fn.origin, look=self.look, styles=[str(p) for p in self.style_paths],
                         record=record)

    def save_checkpoint(self, ckpt: Path) -> None:
        data = self.model().to_dict()
        data.update(identity=self.identity, optimizer=self.opt.state_dict(), generator=self.gen.get_state(),
                    torch_rng=torch.get_rng_state(), step=self.step, smooth=self.smooth, first=self.first,
                    history=[list(h) for h in self.history])
        save_dict(ckpt, data)

    # ---------------------------------------------------------------- steps
    def loop(self, ckpt: Path, progress: Callable[[TrainProgress], None] | None) -> None:
        s = self.settings
        self.net.train()
        while self.step < s.steps:
            value, parts = self.train_step()
            if progress is not None:
                progress(TrainProgress(done=self.step, total=s.steps, loss=value, buckets=parts,
                                       elapsed=time.perf_counter() - self.start_time, resumed_from=self.resumed_from,
                                       time_limit=s.time_limit))
            if self.step % s.checkpoint_every == 0 and self.step < s.steps:
                self.save_checkpoint(ckpt)
            if s.time_limit is not None and time.perf_counter() - self.start_time > s.time_limit:
                break

    def patches(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """n random patches (same place in a frame, its painting and the position channels; flipped at random
        without position channels, which flips would contradict) and their examples' u."""
        xs, ys, us, gs = [], [], [], []
        p = self.patch
        for _ in range(n):
            i = int(torch.randint(len(self.examples), (), generator=self.gen))
            c, t = self.contents[i], self.paintings[i]
            h, w = c.shape[-2:]
            y0 = int(torch.randint(h - p + 1, (), generator=self.gen))
            x0 = int(torch.randint(w - p + 1, (), generator=self.gen))
            a, b = c[..., y0:y0 + p, x0:x0 + p], t[..., y0:y0 + p, x0:x0 + p]
            flip = float(torch.rand((), generator=self.gen)) < 0.5
            if self.guide is not None:
                gs.append(self.guide[..., y0:y0 + p, x0:x0 + p])
            elif flip:
                a, b = a.flip(-1), b.flip(-1)
            xs.append(a)
            ys.append(b)
            us.append(self.us[i])
        guide = torch.cat(gs).to(self.dev) if gs else None
        return torch.cat(xs).to(self.dev), torch.cat(ys).to(self.dev), torch.stack(us), guide

    def feature_loss(self, y: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, texture): the mean over the feature layers of the mean absolute feature difference over the
        target's mean magnitude, and of the squared difference of each patch's Gram matrices over the target's."""
        layers = self.settings.feature_layers
        fy = self.loss_fn.net(y, layers)
        with torch.no_grad():
            ft = self.loss_fn.net(target, layers)
        feats, grams = [], []
        for k in layers:
            a, b = fy[k].float(), ft[k].float()
            feats.append((a - b).abs().mean() / b.abs().mean().clamp_min(1e-6))
            if self.settings.gram_weight:
                ga, gb = _gram(a), _gram(b)
                grams.append(((ga - gb) ** 2).sum(dim=(1, 2)).div((gb ** 2).sum(dim=(1, 2)).clamp_min(1e-12)).mean())
        zero = torch.zeros((), device=y.device)
        return torch.stack(feats).mean(), torch.stack(grams).mean() if grams else zero

    def gatys_loss(self) -> torch.Tensor:
        """The look's loss on fresh patches at u drawn over the range, over the unpainted patch's (log, as fast
        train): the optimisation's own objective where no painting says what to paint."""
        s, lo_hi = self.settings, self.u_range
        x, _, _, guide = self.patches(s.batch)
        lo, hi = lo_hi
        us = lo + (hi - lo) * torch.rand(s.batch, generator=self.gen)
        t = u_to_t(us, lo_hi).to(self.dev)
        content_feats, base_s, base_t = self.loss_fn.reference(x)
        y = self.net(x, t, guide)
        c, st, tv = self.loss_fn.terms(y, content_feats)
        h, w = self.contents[0].shape[-2:]
        ratios = torch.tensor(crop_ratios(self.loss_fn, us.tolist(), self.patch, h * w, self.edge), device=self.dev)
        tvw = self.look.tv_weight
        total = c.float() + ratios * st.float() + tvw * tv.float()
        base = (ratios * base_s.float() + tvw * base_t.float()).clamp_min(1e-12)
        return (total / base).clamp_min(1e-12).log().mean()

    def train_step(self) -> tuple[float, dict[str, float]]:
        s = self.settings
        x, target, us, guide = self.patches(s.batch)
        t = u_to_t(us, self.u_range).to(self.dev)
        y = self.net(x, t, guide)
        pixel = (y - target).abs().mean()
        loss = s.pixel_weight * pixel
        parts = {"pixel": float(pixel.detach())}
        if s.feature_weight or s.gram_weight:
            feats, texture = self.feature_loss(y, target)
            loss = loss + s.feature_weight * feats + s.gram_weight * texture
            parts["features"] = float(feats.detach())
            if s.gram_weight:
                parts["texture"] = float(texture.detach())
        if s.gatys_weight:
            g = self.gatys_loss()
            loss = loss + s.gatys_weight * g
            parts["gatys"] = float(g.detach())
        # Cosine decay over the planned steps: the last steps settle the strokes instead of shaking them.
        for group in self.opt.param_groups:
            group["lr"] = s.lr * (0.55 + 0.45 * math.cos(math.pi * min(self.step, s.steps) / s.steps))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ImpastoError(f"Learning diverged at step {self.step} (loss {value}); try a lower --lr.")
        self.smooth = value if not math.isfinite(self.smooth) else 0.95 * self.smooth + 0.05 * value
        if self.step <= 20:
            self.first = self.smooth
        self.history.append((self.step, value))
        return value, parts


def _gram(f: torch.Tensor) -> torch.Tensor:
    """N×C×C Gram matrices of N×C×H×W features, over the positions."""
    n, c = f.shape[:2]
    x = f.reshape(n, c, -1)
    return x @ x.transpose(1, 2) / x.shape[-1]


def paint_size_pair(content: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame resized to its painting's size (a sweep's content is read at full size, its cells at the paint size)."""
    if content.shape[:2] == painting.shape[:2]:
        return content.astype(np.float32), painting.astype(np.float32)
    t = resize(to_tensor(np.asarray(content, dtype=np.float32), torch.device("cpu")), painting.shape[:2])
    return to_array(t), painting.astype(np.float32)


def is_learned(model: FastModel) -> bool:
    """True for a painter learned from paintings (this module), False for one trained on the Gatys loss."""
    return model.record.get("kind") == KIND


__all__ = ["KIND", "Example", "LearnResult", "LearnSettings", "check_examples", "is_learned", "learn",
           "paint_size_pair", "u_range_of"]
