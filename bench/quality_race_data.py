"""The data of the quality race (bench/quality_race.py): training images that both loops
read, and Inception features of the held-out real side and of the control.

- `cifar` (32 px): `cifar10_train20k.npz`; `n_ref` of its lossless images (`train_lossless`,
  drawn with seed 0) are held out, the other images are trained on.
- `celeba` (64 px): the 5,999 aligned faces of `celeba_aligned_00.tar`, centre-cropped to a
  square and resized (bench/augment_celeba.read_faces); CelebA's official test partition
  (659 faces of 22 people who appear in no other partition) is held out, the 5,340 faces of
  the train and val partitions are trained on.
The control is `n` training images (seed 1) scored against the same held-out set.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from augment_celeba import FIRST_TEST, read_faces
from fid_reference import FeatureStore
from harness import CACHE, SHARED

from dcgan.io import atomic_write
from dcgan.metrics.extractors import Extractor

CIFAR = SHARED / "cifar10_train20k.npz"
WORK = CACHE / "quality_race"
SIZES = {"cifar": 32, "celeba": 64}
DESCRIPTIONS = {
    "cifar": (
        "cifar10_train20k.npz, 32 px",
        "held-out lossless images (train_lossless), seed 0",
    ),
    "celeba": (
        "celeba_aligned_00.tar, centre square crop, 64 px (LANCZOS)",
        "CelebA's official test partition (numbers >= 182638), seed 0",
    ),
}


@dataclass
class Split:
    """The data of the race: training images (an npz dcgan reads) and held-out features."""

    size: int
    train_npz: Path
    train_images: np.ndarray  # N, 3, size, size uint8
    reference: torch.Tensor  # Inception features of the held-out images
    control: torch.Tensor  # Inception features of n training images
    held_out: np.ndarray


def load_images(data: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(images N x 3 x S x S uint8, indices that may be held out, cache name) of `data`."""
    if data == "cifar":
        with np.load(CIFAR, allow_pickle=False) as z:
            images = np.ascontiguousarray(z["x_train"].transpose(0, 3, 1, 2))
            candidates = np.flatnonzero(z["train_lossless"])
        return images, candidates, "cifar10_train20k"
    if data == "celeba":
        faces, numbers, _ = read_faces(SIZES[data])
        images = np.ascontiguousarray(faces.transpose(0, 3, 1, 2))
        return images, np.flatnonzero(numbers >= FIRST_TEST), f"celeba{SIZES[data]}"
    raise SystemExit(f"--data {data}: choose one of {', '.join(SIZES)}")


def split_data(data: str, n: int, n_ref: int, ext: Extractor) -> Split:
    """Hold out `n_ref` candidates (seed 0; 0 = CIFAR's 600, all of CelebA's test faces)."""
    images, candidates, name = load_images(data)
    n_ref = n_ref or (600 if data == "cifar" else len(candidates))
    if n_ref > len(candidates):
        raise SystemExit(f"--n-ref {n_ref}: {data} has {len(candidates)} held-out images")
    rng = np.random.default_rng(0)
    held = np.sort(rng.permutation(candidates)[:n_ref])
    rest = np.setdiff1d(np.arange(len(images)), held)
    train_images = images[rest]
    digest = hashlib.sha256(train_images).hexdigest()[:16]
    prefix = "cifar" if data == "cifar" else name
    path = WORK / f"{prefix}_train_{digest}.npz"
    if not path.is_file():
        buf = io.BytesIO()
        np.savez(buf, x_train=np.ascontiguousarray(train_images.transpose(0, 2, 3, 1)))
        atomic_write(path, lambda f: f.write(buf.getvalue()))
    store = FeatureStore(name, images, hashlib.sha256(images).hexdigest(), ext)
    control = np.sort(np.random.default_rng(1).permutation(rest)[:n])
    return Split(SIZES[data], path, train_images, store(held), store(control), held)
