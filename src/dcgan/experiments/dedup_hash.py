"""Training, saving, loading and applying `dedup`'s learned hashes (paper §4.1.1): `paper`,
`invariant` (both in dedup_nets), `robust` and the learned half of `combined`
(dedup_robust)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dcgan.errors import DcganError
from dcgan.experiments.dedup_nets import (
    HashAutoencoder,
    InvariantHash,
    flat,
    invariant_loss,
    standardise,
)
from dcgan.experiments.dedup_robust import CombinedHash, RobustHash, robust_loss
from dcgan.io import atomic_write
from dcgan.options_data import DedupConfig

HASH_BATCH = 4096
# The default Hamming radius of a match, by kind; robust's and combined's (with the views'
# radius, dedup_views.VIEWS_RADIUS) are chosen on bench/dedup_robust.py's dev data.
RADIUS = {"paper": 0, "invariant": 8, "robust": 2, "combined": 1}


def _new_model(kind: str, bits: int, dropout: float = 0.2, threshold: float = 0.0):
    """An untrained hash model of `kind` (paper, invariant, robust or combined)."""
    if kind == "paper":
        return HashAutoencoder(bits, dropout, threshold)
    if kind == "invariant":
        return InvariantHash(bits, dropout)
    return CombinedHash(bits, dropout) if kind == "combined" else RobustHash(bits, dropout)


def train_hash(images: np.ndarray, config: DedupConfig) -> HashAutoencoder:
    """Train the `config.hash` model on (at most `train_limit`, evenly spaced) uint8
    thumbnails N x 3 x 32 x 32 (a memory map is read batch by batch)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = _new_model(config.hash, config.bits, config.dropout, config.threshold)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(images)
    picked = np.unique(np.linspace(0, n - 1, min(n, config.train_limit)).astype(np.int64))
    rng = np.random.default_rng(config.seed)
    with torch.no_grad():  # the training images' mean (robust keeps zero: see its module)
        prep = flat if model.kind == "paper" else (lambda b: standardise(flat(b)))
        if not isinstance(model, RobustHash):
            total = sum(prep(images[i : i + HASH_BATCH]).sum(0) for i in range(0, n, HASH_BATCH))
            model.mean.copy_(total / n)
    model.train()
    for _ in range(config.epochs):
        order = rng.permutation(picked)
        for start in range(0, len(order), config.batch_size):
            x = flat(images[np.sort(order[start : start + config.batch_size])])
            if model.kind == "paper":
                noisy = x + config.noise * torch.randn_like(x)  # de-noising: clean target
                loss = F.mse_loss(model(noisy), x)
            elif isinstance(model, RobustHash):
                loss = robust_loss(model, x, gen)
            else:
                loss = invariant_loss(model, x, gen)
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
