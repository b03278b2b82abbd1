"""The learned hashes of `dedup` (paper §4.1.1): the paper's autoencoder and an invariant one.

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

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.options_data import DedupConfig

SIDE = 32
PIXELS = 3 * SIDE * SIDE
HASH_BATCH = 4096
RADIUS = {"paper": 0, "invariant": 8, "robust": 2}  # default Hamming radius of a match, by kind
SHIFT, ZOOM = 0.1, 0.08  # near_copy: up to 1.6 px of shift and 8 % of zoom at 32 px
WEIGHTS = {"recon": 0.25, "contrast": 2.0, "balance": 1.0, "binary": 0.5}
TEMPERATURE = 0.1


def _flat(images: np.ndarray) -> torch.Tensor:
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
        bits = (self.code(_flat(images)) > self.threshold).numpy()
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


def _invariant_loss(model: InvariantHash, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
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


def _new_model(kind: str, bits: int, dropout: float = 0.2, threshold: float = 0.0):
    """An untrained hash model of `kind` (paper, invariant or robust)."""
    from dcgan.experiments.dedup_robust import RobustHash  # it builds on this module

    if kind == "paper":
        return HashAutoencoder(bits, dropout, threshold)
    return InvariantHash(bits, dropout) if kind == "invariant" else RobustHash(bits, dropout)


def train_hash(images: np.ndarray, config: DedupConfig) -> HashAutoencoder:
    """Train the `config.hash` model on (at most `train_limit`, evenly spaced) uint8
    thumbnails N x 3 x 32 x 32 (a memory map is read batch by batch)."""
    from dcgan.experiments.dedup_robust import robust_loss

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = _new_model(config.hash, config.bits, config.dropout, config.threshold)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(images)
    picked = np.unique(np.linspace(0, n - 1, min(n, config.train_limit)).astype(np.int64))
    rng = np.random.default_rng(config.seed)
    with torch.no_grad():  # the training images' mean (robust keeps zero: see its module)
        prep = _flat if model.kind == "paper" else (lambda b: standardise(_flat(b)))
        if model.kind != "robust":
            total = sum(prep(images[i : i + HASH_BATCH]).sum(0) for i in range(0, n, HASH_BATCH))
            model.mean.copy_(total / n)
    model.train()
    for _ in range(config.epochs):
        order = rng.permutation(picked)
        for start in range(0, len(order), config.batch_size):
            x = _flat(images[np.sort(order[start : start + config.batch_size])])
            if model.kind == "paper":
                noisy = x + config.noise * torch.randn_like(x)  # de-noising: clean target
                loss = F.mse_loss(model(noisy), x)
            elif model.kind == "robust":
                loss = robust_loss(model, x, gen)
            else:
                loss = _invariant_loss(model, x, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def save_model(model: HashAutoencoder, path: str | Path) -> Path:
    state = {"state": model.state_dict(), "bits": model.bits, "kind": model.kind}
    state["threshold"] = model.threshold
    return atomic_write(path, lambda f: torch.save(state, f))


def load_model(path: str | Path) -> HashAutoencoder:
    """A saved hash model: the file, or a dedup output folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "hash_model.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        kind = state.get("kind", "paper")
        if kind not in RADIUS:
            raise ValueError(kind)
        model = _new_model(kind, state["bits"], threshold=state["threshold"])
        model.load_state_dict(state["state"])
    except FileNotFoundError:
        raise DcganError(f"hash model not found: {path}") from None
    except Exception as e:  # torch raises many types for a file that is not a hash model
        raise DcganError(f"{path}: not a dedup hash model ({type(e).__name__})") from None
    return model.eval()


def hash_images(model: HashAutoencoder, images: np.ndarray) -> np.ndarray:
    """Hashes of many thumbnails (a memory map is read batch by batch)."""
    parts = [model.hash(images[i : i + HASH_BATCH]) for i in range(0, len(images), HASH_BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, model.bits // 8), np.uint8)
