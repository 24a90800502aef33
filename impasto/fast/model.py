"""A feed-forward painter for one style whose look is a smooth function of u.

Johnson et al. 2016's transformer (conv encoder, residual blocks, upsampling decoder, instance norm) with
Dumoulin et al. 2016's idea turned the way the Come Swim paper (section 5) proposes: instead of one set of
normalisation parameters per style, the scale and shift of every conditioned instance norm come from a small
MLP on an embedding of u (FiLM), so one network covers a whole range of style-to-content ratios, and any u
inside the trained range works, not only values seen in training.

The encoder is not conditioned: it runs once per frame, and only the residual blocks and the decoder run once
per u, which is what makes a sweep of many u values cost little more than one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class FastConfig:
    """Network shape; stored in the model file so a file rebuilds its own network."""

    width: int = 8  # channels after the first conv; x2 per downsampling
    blocks: int = 3  # residual blocks at 1/4 resolution
    first_kernel: int = 5  # Johnson uses 9; 5 keeps the full-resolution convs cheap on a CPU
    out_kernel: int = 3  # last conv (full resolution, runs once per u)
    reflect: bool = False  # reflection padding in the per-u layers too; zero padding there paints a band at the edges
    embed: int = 8  # sin/cos frequencies of the u embedding
    hidden: int = 64  # MLP width
    anchors: int = 0  # conditional instance norm tables at this many u values, interpolated (Dumoulin et al.)
    # "instance": Johnson's instance norm (statistics of the whole picture); "none": FiLM scale and shift alone, so
    # a network trained on small patches paints a whole frame alike (Texler et al. 2020 train on patches).
    norm: str = "instance"
    # False: the MLP does not see u (it learns what every u shares) and u acts through the anchor tables alone, so
    # a u between two anchors paints with their parameters interpolated: the smooth in-between a few examples need.
    u_mlp: bool = True
    # Position channels beside the frame (sin and cos of this many plane waves over the frame, in units of its long
    # edge): a painter learned from a few paintings can then put a stroke where the painting put it, not only paint
    # what the frame's look alone suggests (Texler et al. 2020 give their network such guides). 0: none.
    positional: int = 0

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm '{self.norm}'; use one of {', '.join(NORMS)}")


NORMS = ("instance", "none")


PRESETS: dict[str, FastConfig] = {
    "tiny": FastConfig(width=8, blocks=1, first_kernel=3, embed=4, hidden=16),  # tests
    # The CPU default: a 9-value sweep at 512×384 in 0.58 s on 2 idle cores (0.47 s with zero padding, which
    # left a visible band along the frame edges and after 500 steps a 1.1-1.35× higher loss).
    "small": FastConfig(reflect=True),
    "large": FastConfig(width=32, blocks=5, first_kernel=9, embed=8, hidden=128, reflect=True),  # Johnson's widths; GPU
    # The learned painter (impasto.fast.learn): no normalisation, so patches and whole frames paint alike.
    # u through anchor tables only (impasto.fast.learn sets their count from the examples' u values).
    "learned": FastConfig(width=16, blocks=2, first_kernel=3, embed=1, hidden=32, reflect=True, norm="none", u_mlp=False,
                          positional=8),
    "learned-tiny": FastConfig(width=8, blocks=1, first_kernel=3, embed=1, hidden=16, reflect=True, norm="none",
                               u_mlp=False, positional=2),  # tests
}


LOGIT_EPS = 1e-3


class UEmbedding(nn.Module):
    """u in [lo, hi] -> sin/cos features of t = (u - lo) / (hi - lo); low frequencies keep the map smooth in u."""

    def __init__(self, frequencies: int) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * torch.arange(1, frequencies + 1, dtype=torch.float32) / 2.0)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = t.reshape(-1, 1) * self.freqs.reshape(1, -1)
        return torch.cat([t.reshape(-1, 1), torch.sin(x), torch.cos(x)], dim=1)


class FiLMNorm(nn.Module):
    """Instance norm whose scale and shift are given per sample (from u); with `normalise` False, the scale and
    shift alone (FiLM), which leaves a pixel's value independent of the rest of the picture."""

    def __init__(self, channels: int, normalise: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.normalise = normalise

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        if not self.normalise:
            return torch.addcmul(beta[:, :, None, None], x, gamma[:, :, None, None])
        # Normalise and apply gamma/beta as one affine per channel: one pass over the pixels instead of three.
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = (x * x).mean(dim=(2, 3), keepdim=True) - mean * mean
        scale = gamma[:, :, None, None] * torch.rsqrt(var.clamp_min(0.0) + 1e-5)
        return torch.addcmul(beta[:, :, None, None] - mean * scale, x, scale)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, reflect: bool = True) -> nn.Module:
    # Reflection padding (Johnson et al.) where edges show; zero padding (free inside the conv) elsewhere.
    if reflect:
        return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride=stride))
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2)


class FastStyleNet(nn.Module):
    """image (N×3×H×W, 0-1) and t (N, u mapped onto 0-1) -> painted image (N×3×H×W, 0-1)."""

    def __init__(self, config: FastConfig = FastConfig()) -> None:
        super().__init__()
        self.config = config
        w, k = config.width, config.first_kernel
        c1, c2, c3 = w, 2 * w, 4 * w
        # encoder: plain (affine) instance norm, shared by every u
        self.enc = nn.ModuleList([_conv(3 + 2 * config.positional, c1, k), _conv(c1, c2, 3, 2), _conv(c2, c3, 3, 2)])
        instance = config.norm == "instance"
        self.enc_norm = nn.ModuleList([nn.InstanceNorm2d(c, affine=True) if instance else nn.Identity()
                                       for c in (c1, c2, c3)])
        # conditioned part: residual blocks (two convs each) and the decoder
        r = config.reflect
        self.res = nn.ModuleList([_conv(c3, c3, 3, reflect=r) for _ in range(2 * config.blocks)])
        self.up = nn.ModuleList([_conv(c3, c2, 3, reflect=r), _conv(c2, c1, 3, reflect=r)])
        self.out = _conv(c1, 3, config.out_kernel, reflect=True)
        self.norm_channels = [c3] * (2 * config.blocks) + [c2, c1]
        self.norms = nn.ModuleList([FiLMNorm(c, instance) for c in self.norm_channels])
        self.embedding = UEmbedding(config.embed)
        n_film = 2 * sum(self.norm_channels)
        self.film = nn.Sequential(
            nn.Linear(1 + 2 * config.embed, config.hidden), nn.SiLU(),
            nn.Linear(config.hidden, config.hidden), nn.SiLU(),
            nn.Linear(config.hidden, n_film),
        )
        # Start as an ordinary transformer (gamma 1, beta 0 at every u); training bends the parameters with u.
        nn.init.zeros_(self.film[-1].weight)
        if config.anchors:
            # Per-u scale/shift tables at evenly spaced u, interpolated linearly: each u region gets its own
            # parameters from the first step (the MLP alone learns the u-independent mean first).
            self.film_table = nn.Parameter(torch.zeros(config.anchors, n_film))
        nn.init.zeros_(self.film[-1].bias)
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self.register_buffer("film_base", torch.cat([torch.cat([torch.ones(c), torch.zeros(c)]) for c in self.norm_channels]))

    def encode(self, image: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """The u-independent half (full resolution to 1/4): run once per frame. With position channels, `guide`
        is their crop for a patch (default: the whole frame's, `positional_guide`)."""
        x = image * 2.0 - 1.0
        if self.config.positional:
            if guide is None:
                guide = positional_guide(image.shape[-2], image.shape[-1], self.config.positional, image)
            x = torch.cat([x, guide.expand(x.shape[0], -1, -1, -1)], dim=1)
        for conv, norm in zip(self.enc, self.enc_norm):
            x = F.relu(norm(conv(x)))
        return x

    def film_params(self, t: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta) per conditioned norm for each t: N×C each."""
        p = self.film(self.embedding(t if self.config.u_mlp else torch.zeros_like(t))) + self.film_base
        k = self.config.anchors
        if k:
            pos = t.reshape(-1, 1).clamp(0.0, 1.0) * (k - 1)
            grid = torch.arange(k, dtype=pos.dtype, device=pos.device).reshape(1, -1)
            p = p + (1.0 - (pos - grid).abs()).clamp_min(0.0) @ self.film_table
        out, i = [], 0
        for c in self.norm_channels:
            out.append((p[:, i:i + c], p[:, i + c:i + 2 * c]))
            i += 2 * c
        return out

    def decode(self, features: torch.Tensor, image: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The u-dependent half; `features` and `image` (1 or N rows) are broadcast over the N values of t."""
        params = self.film_params(t)
        n = t.shape[0]
        x = features.expand(n, -1, -1, -1)  # a no-op when features already has n rows
        j = 0
        for b in range(self.config.blocks):
            y = F.relu(self.norms[j](self.res[2 * b](x), *params[j]))
            y = self.norms[j + 1](self.res[2 * b + 1](y), *params[j + 1])
            x = x + y
            j += 2
        for conv in self.up:
            # nearest upsampling then a conv: no checkerboard, unlike a transposed conv
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.relu(self.norms[j](conv(x), *params[j]))
            j += 1
        # The decoder paints over the frame (a change in logit space), so an untrained network starts from
        # the frame itself, as the optimisation does, and a short training already gives a sensible picture.
        p = image.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS)
        base = torch.log(p) - torch.log1p(-p)  # logit, spelt out so the ONNX exporter knows it
        return torch.sigmoid(base + self.out(x))

    def forward(self, image: torch.Tensor, t: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(image, guide), image, t)


GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def positional_guide(h: int | torch.Tensor, w: int | torch.Tensor, waves: int, like: torch.Tensor) -> torch.Tensor:
    """1×(2·waves)×H×W: sin and cos of `waves` plane waves over an H×W frame, coordinates in units of its long edge,
    directions turning by the golden angle and frequencies from 1 to 24 cycles per long edge (log spaced)."""
    ys = torch.arange(h, dtype=like.dtype, device=like.device)
    xs = torch.arange(w, dtype=like.dtype, device=like.device)
    edge = torch.maximum(torch.as_tensor(h, dtype=like.dtype), torch.as_tensor(w, dtype=like.dtype))
    yy, xx = ys.reshape(-1, 1) / edge, xs.reshape(1, -1) / edge
    out = []
    for i in range(waves):
        f = 2.0 * math.pi * 24.0 ** (i / max(1, waves - 1))
        a = GOLDEN_ANGLE * i
        phase = f * (math.cos(a) * xx + math.sin(a) * yy)
        out += [torch.sin(phase), torch.cos(phase)]
    return torch.stack(out).unsqueeze(0)


MULTIPLE = 4  # two downsamplings: sizes are padded to a multiple of this


def pad_to_multiple(image: torch.Tensor, multiple: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple; returns the padded image and the original (H, W)."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        image = F.pad(image, (0, pw, 0, ph), mode=mode)
    return image, (h, w)
