"""Colour preservation: keep the content's colours, or match the style's colours to the content."""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def luminance_transfer(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's chroma (YIQ), both 1×3×H×W in 0-1."""
    m = _RGB_TO_YIQ.to(stylised)
    y = torch.einsum("ij,bjhw->bihw", m, stylised)
    c = torch.einsum("ij,bjhw->bihw", m, content)
    yiq = torch.cat([y[:, :1], c[:, 1:]], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), yiq).clamp(0, 1)


def match_colors(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """`source` recoloured so its mean and colour covariance equal `reference`'s (both 1×3×H×W)."""
    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(3, -1).double()
        mu = flat.mean(1, keepdim=True)
        cov = (flat - mu) @ (flat - mu).T / flat.shape[1] + eps * torch.eye(3, dtype=flat.dtype)
        return mu, cov

    def sqrtm(c: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(c)
        vals = vals.clamp_min(eps) ** (-0.5 if inverse else 0.5)
        return vecs @ torch.diag(vals) @ vecs.T

    mu_s, cov_s = stats(source)
    mu_r, cov_r = stats(reference)
    transform = sqrtm(cov_r) @ sqrtm(cov_s, inverse=True)
    flat = source.reshape(3, -1).double()
    out = transform @ (flat - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)
