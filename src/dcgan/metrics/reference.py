"""Real statistics (FID's mean and covariance, the features KID and PR need), cached on disk.

The cache file is keyed by the packed data's hash (`images_sha256` of its meta.json), its
size and channels, the extractor (network and weights hash) and n, and written atomically:
a second evaluation against the same data reads one small file, never the images.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from dcgan.data.packed import PackedDataset
from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.metrics.extractors import Extractor
from dcgan.metrics.fidelity import Features, Reference
from dcgan.options import CACHE

SUBSET_SEED = 0
READ_BATCH = 2000


def subset(dataset: PackedDataset, n: int | None, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of n images drawn once with a fixed seed (all of them when n >= len)."""
    if n is None or n >= len(dataset):
        return np.arange(len(dataset))
    if n < 1:
        raise DcganError(f"n must be positive, got {n}")
    return np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])


def dataset_features(
    dataset: PackedDataset, extractor: Extractor, n: int | None = None, seed: int = SUBSET_SEED
) -> Features:
    """Features of n images of a packed dataset (read in blocks)."""
    idx = subset(dataset, n, seed)
    blocks = np.array_split(idx, max(1, -(-len(idx) // READ_BATCH)))
    parts = [extractor(dataset.get_batch(block)) for block in blocks]
    logits = None if parts[0].logits is None else torch.cat([p.logits for p in parts])
    return Features(torch.cat([p.features for p in parts]), logits)


def data_hash(dataset: PackedDataset) -> str:
    """The packed images' sha256 from meta.json (hashed now only for an old dataset)."""
    digest = dataset.meta.get("images_sha256")
    if not digest:
        with (dataset.path / "images.npy").open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    return str(digest)


def cache_path(
    dataset: PackedDataset, extractor: Extractor, n: int | None, cache: str | Path
) -> Path:
    count = len(subset(dataset, n))
    key = [data_hash(dataset), dataset.size, dataset.channels, extractor.name, count, SUBSET_SEED]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]
    return Path(cache) / "real-stats" / f"{extractor.name}-n{count}-{digest}.npz"


def reference(
    dataset: PackedDataset,
    extractor: Extractor,
    n: int | None = None,
    cache: str | Path | None = CACHE,
) -> Reference:
    """Real statistics of n images of `dataset`, from the cache when present."""
    path = cache_path(dataset, extractor, n, cache) if cache is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Reference(z["mu"], z["sigma"], torch.from_numpy(z["features"]))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file: compute it again
    ref = Reference.of(dataset_features(dataset, extractor, n))
    if path is not None:
        buf = io.BytesIO()
        np.savez(buf, mu=ref.mu, sigma=ref.sigma, features=ref.features.numpy())
        atomic_write(path, lambda f: f.write(buf.getvalue()))
    return ref
