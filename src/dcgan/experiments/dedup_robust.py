"""The `robust` hash of `dedup`: invariant to the copies the web makes of an image.

Two invariances are built in, so they hold exactly:
- colour: the hash sees only the luma (ITU-R 601, as PIL's grayscale), each image
  standardised, so a grayscale copy has the same input and tints, brightness and contrast
  only move it a little;
- mirroring: the code is tanh(f(x) + f(mirror(x))), the same for an image and its mirror.

The others are learned the `invariant` way (two corrupted views of each thumbnail, their
codes pulled together by InfoNCE, plus reconstruction, balanced bits and codes near +-1),
with the corruption (`web_copy`) widened to what web copies show at 32 px: re-crops of up
to a quarter of the side, rotations up to 7 degrees, frames and borders of a flat colour,
overlaid text-like strokes, per-channel colour gains, blur and noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dcgan.experiments.dedup_nets import SIDE, TEMPERATURE, WEIGHTS, InvariantHash, standardise

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def luma(x: torch.Tensor) -> torch.Tensor:
    """Flat RGB thumbnails (N x 3072) -> flat luma (N x 1024)."""
    return (x.view(len(x), 3, SIDE, SIDE) * LUMA).sum(1).reshape(len(x), SIDE * SIDE)


def mirror(g: torch.Tensor) -> torch.Tensor:
    """Flat luma thumbnails, mirrored left to right."""
    return g.view(len(g), SIDE, SIDE).flip(2).reshape(len(g), SIDE * SIDE)


class RobustHash(InvariantHash):
    """robust: standardised luma 1024 -> 512 ReLU -> `bits`, summed over the image and its
    mirror, tanh; the sign of the code is the hash."""

    kind = "robust"

    def __init__(self, bits: int = 128, dropout: float = 0.2, hidden: int = 512) -> None:
        super().__init__(bits, dropout, hidden)
        area = SIDE * SIDE
        self.encoder = nn.Sequential(nn.Linear(area, hidden), nn.ReLU(), nn.Linear(hidden, bits))
        self.decoder = nn.Sequential(nn.Linear(bits, hidden), nn.ReLU(), nn.Linear(hidden, area))
        self.mean = torch.zeros(area)  # replaces the buffer; kept at zero (mirror-symmetric)

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        return standardise(luma(x)) - self.mean

    def code(self, x: torch.Tensor) -> torch.Tensor:
        g = self.prep(x)
        return torch.tanh(self.encoder(g) + self.encoder(mirror(g)))


def web_copy(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random web-like copies of flat [0, 1] RGB thumbnails, as they look at 32 px."""
    n = len(x)

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    def coin(p: float) -> torch.Tensor:
        return (torch.rand(n, 1, 1, 1, generator=gen) < p).float()

    img = x.view(n, 3, SIDE, SIDE)
    # geometry: a re-crop (zoom in) or a frame (zoom out onto a flat colour), a shift and a
    # small rotation; the grid maps output to input, so a scale > 1 shows more than the image
    framed = coin(0.3).view(n)
    scale = torch.where(framed > 0, u(1.08, 1.45), u(0.75, 1.05))
    angle = u(-7.0, 7.0) * math.pi / 180
    shift = u(-0.25, 0.25, 2)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, 0, 1], theta[:, 1, 0] = -scale * torch.sin(angle), scale * torch.sin(angle)
    theta[:, :, 2] = shift * (1 - 0.5 * framed.view(n, 1))
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    fill = torch.where(coin(0.5) > 0, coin(0.5).expand(n, 3, 1, 1), u(0, 1, 3, 1, 1))
    # a frame on all four sides, or (as a portrait's centre crop shows it) on two sides only
    sides = grid.clone()
    sides[..., 1] = sides[..., 1] * coin(0.5).view(n, 1, 1)
    inside = F.grid_sample(torch.ones_like(img[:, :1]), sides, align_corners=False)
    warped = F.grid_sample(img, grid, padding_mode="border", align_corners=False)
    img = framed.view(n, 1, 1, 1) * (inside * warped + (1 - inside) * fill)
    img = img + (1 - framed.view(n, 1, 1, 1)) * warped
    # overlaid text: a band of random on/off "glyph" pixels in one colour
    band = torch.zeros(n, 1, SIDE, SIDE)
    rows = torch.arange(SIDE).view(1, SIDE, 1)
    cols = torch.arange(SIDE).view(1, 1, SIDE)
    top, height = (u(0, SIDE - 4) // 1).view(n, 1, 1), (u(2, 5) // 1).view(n, 1, 1)
    left = (u(0, SIDE / 2) // 1).view(n, 1, 1)
    width = (u(8, SIDE) // 1).view(n, 1, 1)
    box = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
    glyphs = torch.rand(n, SIDE, SIDE, generator=gen) < 0.55
    band[:, 0] = (box & glyphs).float()
    band = band * coin(0.35) * u(0.6, 1.0, 1, 1, 1)
    ink = torch.where(coin(0.7) > 0, coin(0.5).expand(n, 3, 1, 1), u(0, 1, 3, 1, 1))
    img = (1 - band) * img + band * ink
    # blur (re-encoding, resizing), brightness, contrast, colour gains, noise
    blurred = F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    a = u(0.0, 0.7, 1, 1, 1) * coin(0.5)
    img = (1 - a) * img + a * blurred
    mean = img.mean((1, 2, 3), keepdim=True)
    img = (img - mean) * u(0.75, 1.25, 1, 1, 1) + mean * u(0.8, 1.2, 1, 1, 1)
    img = img * u(0.8, 1.2, 3, 1, 1) + u(-0.05, 0.05, 3, 1, 1)
    img = img + u(0.0, 0.03, 1, 1, 1) * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1).reshape(n, 3 * SIDE * SIDE)


def robust_loss(model: RobustHash, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The `invariant` loss with `web_copy` views and a mirror-symmetric clean target."""
    z1, z2 = model.code(web_copy(x, gen)), model.code(web_copy(x, gen))
    g = standardise(luma(x))
    recon = F.mse_loss(model.decoder(model.dropout(z1)), (g + mirror(g)) / 2)
    sim = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / TEMPERATURE
    contrast = F.cross_entropy(sim, torch.arange(len(x)))
    z = torch.cat([z1, z2])
    balance = z.mean(0).pow(2).mean()
    binary = (1 - z.abs()).pow(2).mean()
    terms = {"recon": recon, "contrast": contrast, "balance": balance, "binary": binary}
    return sum(WEIGHTS[k] * v for k, v in terms.items())


class CombinedHash(RobustHash):
    """The learned half of the `combined` hash: the robust hash itself, saved under the
    kind that tells `dedup` to add the pHash views (dedup_views)."""

    kind = "combined"
