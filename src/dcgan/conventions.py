"""The small rules every part of the project shares, each written once: pixels (uint8
0..255 <-> floats in [-1, 1], the range of G's Tanh output, paper §3), seed lists as a user
types them, and the prior of z (U[-1, 1]^nz, paper §4; N(0, I) for imported models)."""

from __future__ import annotations

import torch

from dcgan.errors import DcganError
from dcgan.options import MAX_IMAGES, MAX_SEED

Z_DISTS = ("uniform", "normal")


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> floats in [-1, 1] (a new tensor; the input is left alone).
    One allocation: the training loop converts every batch with it."""
    return images.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Floats in [-1, 1] -> uint8 pixels 0..255, rounded: exactly the pixels a PNG holds."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def parse_seeds(text: str) -> list[int]:
    """'0-7,12,40' -> [0, 1, ..., 7, 12, 40]."""
    seeds: list[int] = []
    for part in text.split(","):
        a, dash, b = part.strip().partition("-")
        if not (a.isascii() and a.isdigit() and (not dash or (b.isascii() and b.isdigit()))):
            raise DcganError(f"bad seeds {text!r}: use non-negative integers like 0-63 or 1,5,9")
        first, last = int(a), int(b) if dash else int(a)
        if last < first:
            raise DcganError(f"bad seeds {text!r}: the range {part.strip()} runs backwards")
        if last > MAX_SEED or len(seeds) + last - first >= MAX_IMAGES:
            raise DcganError(
                f"bad seeds {text!r}: at most {MAX_IMAGES} seeds, each at most {MAX_SEED}"
            )
        seeds.extend(range(first, last + 1))
    return seeds


def sample_z(
    n: int, nz: int, dist: str = "uniform", generator: torch.Generator | None = None
) -> torch.Tensor:
    """n latents from the prior: U[-1, 1]^nz (the paper) or N(0, I)."""
    if dist == "uniform":
        return torch.rand(n, nz, generator=generator) * 2 - 1
    if dist == "normal":
        return torch.randn(n, nz, generator=generator)
    raise DcganError(f"unknown z distribution {dist!r}: use uniform or normal")


def truncate(z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    """The truncation trick: z scaled toward the prior's mean (0 for both priors) by psi.

    psi = 1 returns z itself (today's samples, bit for bit); psi = 0 gives every seed the
    mean latent. Scaling, not resampling outside a radius, so each seed keeps its face as
    psi falls, and walks and sums of truncated latents stay walks and sums (docs/latent.md)."""
    if not 0 <= psi <= 1:
        raise DcganError(f"truncation must be in [0, 1], got {psi}")
    return z if psi == 1 else z * psi


def z_from_seeds(seeds: list[int], nz: int, dist: str = "uniform") -> torch.Tensor:
    """One latent per seed; the same seed always gives the same z."""
    return torch.cat([sample_z(1, nz, dist, torch.Generator().manual_seed(s)) for s in seeds])
