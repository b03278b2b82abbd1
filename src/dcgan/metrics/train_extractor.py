"""`dcgan evaluate --train-extractor`: a domain feature extractor for any labelled dataset.

It trains the MNIST judge's small CNN (dcgan.metrics.mnist_classifier; grey or colour, any
number of classes, images resized to 28x28 inside) on the data's labels, with the same
augmentation as bench/mnist_classifier.py, and saves it for `--extractor PATH`. FID with
these features is a *domain* FID, comparable only between numbers made with the same file.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dcgan.conventions import to_unit_range
from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.metrics.mnist_classifier import MnistClassifier
from dcgan.options import CACHE

PACK_SIZE = 32  # the data is packed at 32 px; the net resizes to 28


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine: shift <= 2 px, rotation <= 10 degrees, scale 0.9-1.1."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = torch.randint(-2, 3, (n, 2), generator=gen).float() * (2 / 28)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # MNIST borders are background (-1), so "border" padding keeps the background intact.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def accuracy(net: MnistClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    preds = torch.cat([net(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((preds == y).double().mean())


def train_extractor(
    data: str | Path,
    out: str | Path = "extractor.pt",
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 3e-3,
    holdout: float = 0.1,
    seed: int = 0,
    cache: str | Path = CACHE,
) -> dict:
    """Train on `data`'s labels (a held-out share measures accuracy); save to `out`."""
    dataset = resolve_data(data, PACK_SIZE, None, None, cache, progress=False)
    if dataset.labels is None:
        raise DcganError(
            f"{data} has no labels: --train-extractor needs a labelled source (class "
            "subfolders, idx/npz/CIFAR/SVHN with labels)"
        )
    labels = torch.from_numpy(np.asarray(dataset.labels, dtype=np.int64))
    classes = int(labels.max()) + 1
    if classes < 2:
        raise DcganError(f"{data} has a single class: nothing to learn")
    gen = torch.Generator().manual_seed(seed)
    t0 = time.monotonic()
    # The net's init and its dropout draw from torch's global stream: seeded, so that one seed
    # gives one extractor, without touching the caller's stream.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = MnistClassifier(channels=dataset.channels, num_classes=classes)
        torch.manual_seed(seed)  # dropout's stream, apart from the init's draws
        acc = _fit(net, dataset, labels, gen, epochs, batch_size, lr, holdout)
    meta = {
        "channels": dataset.channels,
        "num_classes": classes,
        "held_out_accuracy": acc,
        "data": str(data),
        "data_sha256": dataset.meta.get("images_sha256"),
        "epochs": epochs,
        "seed": seed,
    }
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    path = atomic_write(out, lambda f: torch.save({"state_dict": state, "meta": meta}, f))
    return {"path": str(path), "accuracy": acc, "seconds": round(time.monotonic() - t0, 1)}


def _fit(
    net: MnistClassifier,
    dataset: PackedDataset,
    labels: torch.Tensor,
    gen: torch.Generator,
    epochs: int,
    batch_size: int,
    lr: float,
    holdout: float,
) -> float:
    """Train `net` on all but a held-out share of `dataset`; its accuracy on that share."""
    x = torch.cat(
        [
            net.prepare(to_unit_range(dataset.get_batch(np.arange(i, min(i + 5000, len(dataset))))))
            for i in range(0, len(dataset), 5000)
        ]
    )
    order = torch.randperm(len(x), generator=gen)
    n_test = max(1, min(10000, int(len(x) * holdout)))
    test, train = order[:n_test], order[n_test:]
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, epochs=epochs, steps_per_epoch=steps)
    for _ in range(epochs):
        net.train()
        perm = train[torch.randperm(len(train), generator=gen)]
        for i in range(steps):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(net(augment(x[idx], gen)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return accuracy(net, x[test], labels[test])
