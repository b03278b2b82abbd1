"""The networks of `dedup`'s learned hashes (paper §4.1.1): the paper's autoencoder and an
invariant one, and their training losses (the `robust` hash builds on them: dedup_robust).

`paper`: a 3072-128-3072 de-noising (Gaussian noise), dropout-regularised ReLU autoencoder
on 32x32 thumbnails; its ReLU code units, thresholded, are the hash. Exact to the paper, it
keeps JPEG copies together but splits most shifted, resized or brightened ones.

`invariant`: the same de-noising idea with the near-duplicate transformations as the noise.
Each image is standardised (zero mean, unit variance: global brightness and contrast drop
out), two corrupted views (shifts up to 1.6 px, 92-108 % zoom, brightness, contrast, colour
gains, blur, pixel noise) go through a 3072-512-bits MLP with tanh codes, and the loss
sums: reconstructing the clean image from view one, pulling the two views' codes together
while pushing other images' apart (InfoNCE over the batch), balanced bits, and codes pushed
to +-1 (so that a bit rarely sits near its threshold). The sign is the hash; copies land a
few bits apart, so it is matched within a Hamming radius (default 8 of 128 bits).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIDE = 32
PIXELS = 3 * SIDE * SIDE
SHIFT, ZOOM = 0.1, 0.08  # near_copy: up to 1.6 px of shift and 8 % of zoom at 32 px
WEIGHTS = {"recon": 0.25, "contrast": 2.0, "balance": 1.0, "binary": 0.5}
TEMPERATURE = 0.1


def flat(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images).reshape(len(images), PIXELS)).float() / 255


class HashAutoencoder(nn.Module):
    """paper: 3072 -> `bits` ReLU code -> 3072 sigmoid pixels; the code > threshold is the
    hash."""

    kind = "paper"

    def __init__(self, bits: int = 128, dropout: float = 0.2, threshold: float = 0.0) -> None:
        super().__init__()
        self.encoder = nn.Linear(PIXELS, bits)
        self.decoder = nn.Linear(bits, PIXELS)
        self.dropout = nn.Dropout(dropout)
        self.threshold = threshold
        self.register_buffer("mean", torch.full((PIXELS,), 0.5))  # the training images' mean

    @property
    def bits(self) -> int:
        return self.encoder.out_features

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(self.prep(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.dropout(self.code(x))))

    @torch.no_grad()
    def hash(self, images: np.ndarray) -> np.ndarray:
        """uint8 N x 3 x 32 x 32 -> packed hashes, uint8 N x bits/8."""
        bits = (self.code(flat(images)) > self.threshold).numpy()
        return np.packbits(bits, axis=1)


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each flat image to zero mean and unit variance (a flat image stays near zero)."""
    x = x - x.mean(1, keepdim=True)
    return x / (x.std(1, keepdim=True) + 0.02)


class InvariantHash(HashAutoencoder):
    """invariant: standardised 3072 -> 512 ReLU -> `bits` tanh code -> 512 -> 3072; the sign
    of the code is the hash."""

    kind = "invariant"

    def __init__(self, bits: int = 128, dropout: float = 0.2, hidden: int = 512) -> None:
        super().__init__(bits, dropout, 0.0)
        self.encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, bits))
        self.decoder = nn.Sequential(nn.Linear(bits, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))
        self.mean.zero_()  # the training images' mean, after standardising

    @property
    def bits(self) -> int:
        return self.encoder[-1].out_features

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        return standardise(x) - self.mean

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.encoder(self.prep(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.dropout(self.code(x)))


def near_copy(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random near-duplicates of flat [0, 1] thumbnails, as a copy re-saved, cropped by a few
    pixels, resized or brightened looks at 32 px."""
    n = len(x)

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    img = x.view(n, 3, SIDE, SIDE)
    zoom, shift = u(1 - ZOOM, 1 + ZOOM), u(-SHIFT, SHIFT, 2)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, padding_mode="border", align_corners=False)
    blurred = F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    a = u(0.0, 0.5, 1, 1, 1) * (torch.rand(n, 1, 1, 1, generator=gen) < 0.5)
    img = (1 - a) * img + a * blurred
    mean = img.mean((1, 2, 3), keepdim=True)
    img = (img - mean) * u(0.88, 1.12, 1, 1, 1) + mean * u(0.88, 1.12, 1, 1, 1)
    img = img * u(0.95, 1.05, 3, 1, 1) + u(-0.02, 0.02, 3, 1, 1)
    img = img + u(0.0, 0.02, 1, 1, 1) * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1).reshape(n, PIXELS)


def invariant_loss(model: InvariantHash, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    z1, z2 = model.code(near_copy(x, gen)), model.code(near_copy(x, gen))
    recon = F.mse_loss(model.decoder(model.dropout(z1)), standardise(x) - model.mean)
    # pull the two views together: each must pick out its twin among the batch (InfoNCE)
    sim = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / TEMPERATURE
    contrast = F.cross_entropy(sim, torch.arange(len(x)))
    z = torch.cat([z1, z2])
    balance = z.mean(0).pow(2).mean()  # each bit set on half of the images
    binary = (1 - z.abs()).pow(2).mean()  # codes near +-1: few bits close to the threshold
    terms = {"recon": recon, "contrast": contrast, "balance": balance, "binary": binary}
    return sum(WEIGHTS[k] * v for k, v in terms.items())
