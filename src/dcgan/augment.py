"""Differentiable augmentation of D's inputs for small datasets (issue 31; off by default:
paper §4 trained with none).

- `diffaugment` (Zhao et al., NeurIPS 2020): colour (brightness, saturation, contrast),
  translation by up to 1/8 of the side (zero padding) and cutout of a square half the side,
  applied to every real and every generated image before D, in D's step and in G's. Every
  operation is differentiable in the pixels, so G's gradient flows through it.
- `ada` (Karras et al., NeurIPS 2020): the same three transforms, each applied to an image
  with probability p, and p adapted by ADA's overfitting heuristic r_t = E[sign(D(real))]:
  every ADA_INTERVAL steps p moves by sign(r_t - ADA_TARGET) times the step that lets it
  cross [0, 1] in ADA_IMAGES real images. Karras et al.'s own 18-transform pipeline
  (flips, rotations, scaling, colour, filtering) is not reproduced: the adaptive p is.

The random parameters come from a generator of their own, drawn for the global batch and
sharded like z, so a checkpoint holds the stream (and p) and resume stays bit-exact.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

AUGMENTS = ("none", "diffaugment", "ada")
TRANSLATION = 0.125  # DiffAugment's ratios: shift up to 1/8 of the side,
CUTOUT = 0.5  # a square of half the side set to 0
ADA_TARGET = 0.6  # Karras et al.'s target of r_t
ADA_INTERVAL = 4  # steps between adjustments of p (Karras et al.: 4 minibatches)
ADA_IMAGES = 500_000  # p can go from 0 to 1 in this many real images (Karras et al.: 500k)
SEED_OFFSET = 0x5EED  # the stream's seed is the run's seed plus this (z has the seed itself)


def _where(apply: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return new if apply is None else torch.where(apply, new, old)


def color(x: torch.Tensor, r: torch.Tensor, apply: torch.Tensor | None = None) -> torch.Tensor:
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]; `r` (n, 3) in [0, 1)."""
    y = x + (r[:, 0, None, None, None] - 0.5)
    mean = y.mean(dim=1, keepdim=True)
    y = (y - mean) * (r[:, 1, None, None, None] * 2) + mean
    mean = y.mean(dim=[1, 2, 3], keepdim=True)
    y = (y - mean) * (r[:, 2, None, None, None] + 0.5) + mean
    return _where(apply, y, x)


def translation(x: torch.Tensor, shift: torch.Tensor, apply=None) -> torch.Tensor:
    """Each image shifted by whole pixels: output pixel (r, c) is input pixel (r + shift[0],
    c + shift[1]), 0 where that lies outside (DiffAugment's convention)."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device)[None, :, None] + shift[:, 0, None, None] + 1
    cols = torch.arange(w, device=x.device)[None, None, :] + shift[:, 1, None, None] + 1
    batch = torch.arange(n, device=x.device)[:, None, None]
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    y = padded[batch, rows.clamp(0, h + 1), cols.clamp(0, w + 1)].permute(0, 3, 1, 2)
    return _where(apply, y, x)


def cutout(x: torch.Tensor, centre: torch.Tensor, apply=None) -> torch.Tensor:
    """A square of CUTOUT x the side, centred at `centre` (n, 2), set to 0 (clipped at edges)."""
    _, _, h, w = x.shape
    size = torch.tensor([int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)], device=x.device)
    lo = centre - size // 2
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    inside_r = (rows >= lo[:, :1]) & (rows < lo[:, :1] + size[0])
    inside_c = (cols >= lo[:, 1:]) & (cols < lo[:, 1:] + size[1])
    keep = ~(inside_r[:, :, None] & inside_c[:, None, :])
    y = x * keep[:, None].to(x.dtype)
    return _where(apply, y, x)


class Augment:
    """The augmentation of one run: `__call__` transforms a batch of D's inputs, `observe`
    adapts ADA's p, `state` / `load_state` carry both through a checkpoint."""

    def __init__(self, kind: str, seed: int, rank: int = 0, world: int = 1) -> None:
        if kind not in AUGMENTS[1:]:
            raise ValueError(f"unknown augmentation {kind!r}")
        self.kind, self.rank, self.world = kind, rank, world
        self.p = 1.0 if kind == "diffaugment" else 0.0
        self.gen = torch.Generator().manual_seed((seed + SEED_OFFSET) % 2**63)
        self.signs, self.seen, self.steps = 0.0, 0, 0  # ADA: r_t's running sum

    def _draw(self, fn, n: int) -> torch.Tensor:
        """Parameters for the global batch (every rank draws them all), this rank's rows."""
        full = fn(n * self.world)
        return full.chunk(self.world)[self.rank] if self.world > 1 else full

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        g = self.gen
        sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
        r = self._draw(lambda m: torch.rand(m, 3, generator=g), n)
        shift_r = self._draw(lambda m: torch.randint(-sh, sh + 1, (m, 1), generator=g), n)
        shift_c = self._draw(lambda m: torch.randint(-sw, sw + 1, (m, 1), generator=g), n)
        # DiffAugment's offsets: 0..side - 1 + (1 - size % 2)
        ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
        cr = self._draw(lambda m: torch.randint(0, h + (1 - ch % 2), (m, 1), generator=g), n)
        cc = self._draw(lambda m: torch.randint(0, w + (1 - cw % 2), (m, 1), generator=g), n)
        masks: list[torch.Tensor | None] = [None, None, None]
        if self.kind == "ada":
            u = self._draw(lambda m: torch.rand(m, 3, generator=g), n)
            masks = [(u[:, i] < self.p).to(x.device)[:, None, None, None] for i in range(3)]
        dev = x.device
        x = color(x, r.to(dev, x.dtype), masks[0])
        x = translation(x, torch.cat([shift_r, shift_c], 1).to(dev), masks[1])
        return cutout(x, torch.cat([cr, cc], 1).to(dev), masks[2])

    def observe(self, real_as_real: float, batch: int) -> None:
        """ADA's controller, after each step: `real_as_real` is the share of real images D
        takes for real (its logits > 0), so sign(D(real)) averages 2 * share - 1."""
        if self.kind != "ada":
            return
        self.signs += (2 * real_as_real - 1) * batch
        self.seen += batch
        self.steps += 1
        if self.steps % ADA_INTERVAL:
            return
        r_t = self.signs / self.seen
        move = self.seen / ADA_IMAGES
        direction = (r_t > ADA_TARGET) - (r_t < ADA_TARGET)
        self.p = min(max(self.p + direction * move, 0.0), 1.0)
        self.signs, self.seen = 0.0, 0

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "p": self.p,
            "rng": self.gen.get_state(),
            "ada": [self.signs, self.seen, self.steps],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self.gen.set_state(state["rng"])
        self.signs, self.seen, self.steps = float(state["ada"][0]), *map(int, state["ada"][1:])
