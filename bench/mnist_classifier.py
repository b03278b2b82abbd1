"""Train the MNIST judge shipped in dcgan/metrics/weights/mnist_classifier.pt.

Reproducible (fixed seed, seeded data order and augmentation, 2 CPU threads): Adam with a
one-cycle schedule for a few epochs, light augmentation (random shifts of up to 2 px, small
rotations and scalings), and outlier exposure (a uniform softmax on noise and shuffled digits,
so that a confident label means a digit-like image). Evaluates on the 10,000 test images,
prints a table, writes bench/results/mnist_classifier.json, and exits 1 if test accuracy is
below 99%.

    python bench/mnist_classifier.py [--data PATH] [--epochs 5] [--seed 0]
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from harness import ROOT, SHARED, parse_args, write_results
from tqdm import tqdm

from dcgan.data.packed import to_unit_range
from dcgan.io import atomic_write
from dcgan.metrics.mnist_classifier import DEFAULT_WEIGHTS, MnistClassifier
from dcgan.metrics.train_extractor import accuracy as top1_accuracy
from dcgan.metrics.train_extractor import augment
from dcgan.options import opt

DEFAULT_DATA = SHARED / "mnist.npz"
MIN_ACCURACY = 0.99


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1]."""
    return to_unit_range(torch.from_numpy(x)).unsqueeze(1)


def junk(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Non-digits made from a batch of digits: noise, blobs, flat grey, shuffled pixels or tiles.

    The classifier learns a uniform softmax on these (outlier exposure), so that its
    confidence means something when it judges a GAN's failures.
    """
    n = x.shape[0]
    noise = torch.rand(n, 1, 28, 28, generator=gen) * 2 - 1
    gain = 4 + 8 * torch.rand(n, 1, 1, 1, generator=gen)
    blobs = (F.avg_pool2d(noise, 5, 1, 2, count_include_pad=False) * gain).clamp(-1, 1)
    flat = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1).expand(n, 1, 28, 28)
    pixels = x.flatten(1)[:, torch.randperm(784, generator=gen)].view_as(x)
    tiles = x.unfold(2, 7, 7).unfold(3, 7, 7).reshape(n, 16, 7, 7)  # 4x4 grid of 7x7 tiles
    tiles = tiles[:, torch.randperm(16, generator=gen)].view(n, 4, 4, 7, 7)
    tiles = tiles.permute(0, 1, 3, 2, 4).reshape_as(x)
    kinds = torch.stack([noise, blobs, flat, pixels, tiles])  # (5, n, 1, 28, 28)
    return kinds[torch.randint(0, 5, (n,), generator=gen), torch.arange(n)]


@torch.no_grad()
def confident_fraction(model: MnistClassifier, x: torch.Tensor) -> float:
    """Share of images whose max softmax is >= 0.9."""
    model.eval()
    return float((model.predict_proba(x).max(1).values >= 0.9).double().mean())


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    data: Path = opt(DEFAULT_DATA, "mnist.npz path")
    epochs: int = opt(5)
    batch_size: int = opt(128)
    lr: float = opt(3e-3, "peak one-cycle learning rate")
    junk_weight: float = opt(0.5, "outlier-exposure weight")
    seed: int = opt(0)
    out: Path = opt(DEFAULT_WEIGHTS, "weights file")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)

    if not args.data.is_file():
        print(f"error: MNIST not found at {args.data} (use --data)", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    with np.load(args.data) as d:
        x_train, y_train = to_tensor(d["x_train"]), torch.from_numpy(d["y_train"]).long()
        x_test, y_test = to_tensor(d["x_test"]), torch.from_numpy(d["y_test"]).long()

    model = MnistClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    gen = torch.Generator().manual_seed(args.seed)

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{args.epochs}", leave=False)
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            x = augment(x_train[idx], gen)
            x_junk = junk(x[: len(x) // 4], gen)
            logits = model(torch.cat([x, x_junk]))
            loss = F.cross_entropy(logits[: len(x)], y_train[idx])
            # Outlier exposure: cross-entropy to the uniform distribution on the junk.
            loss = loss - args.junk_weight * logits[len(x) :].log_softmax(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
        print(f"epoch {epoch}: test accuracy {top1_accuracy(model, x_test, y_test):.4f}")
    train_s = time.perf_counter() - start
    accuracy = top1_accuracy(model, x_test, y_test)
    check = torch.Generator().manual_seed(args.seed + 1)
    noise_confident = confident_fraction(
        model, torch.rand(1000, 1, 28, 28, generator=check) * 2 - 1
    )
    junk_confident = confident_fraction(model, junk(x_test[:1000], check))
    digits_confident = confident_fraction(model, x_test)

    params = sum(p.numel() for p in model.parameters())
    meta = {
        "test_accuracy": accuracy,
        "seed": args.seed,
        "epochs": args.epochs,
        "junk_weight": args.junk_weight,
        "data_sha256": sha256(args.data),
        "torch_version": str(torch.__version__),  # plain str: weights_only loads
    }
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    atomic_write(args.out, lambda f: torch.save({"state_dict": state, "meta": meta}, f))
    size = args.out.stat().st_size

    result = {
        **meta,
        "train_seconds": round(train_s, 1),
        "confident_fraction": {
            "test_digits": digits_confident,
            "uniform_noise": noise_confident,
            "junk_from_test_digits": junk_confident,
        },
        "params": params,
        "weights_bytes": size,
        "weights_path": os.path.relpath(args.out.resolve(), ROOT),
        "passed": accuracy >= MIN_ACCURACY,
    }
    write_results("mnist_classifier", result)

    rows = [
        ("epochs", str(args.epochs)),
        ("train time", f"{train_s:.0f} s"),
        ("test accuracy", f"{accuracy:.4f}"),
        ("conf>=0.9 digits", f"{digits_confident:.3f}"),
        ("conf>=0.9 noise", f"{noise_confident:.3f}"),
        ("conf>=0.9 junk", f"{junk_confident:.3f}"),
        ("params", f"{params:,}"),
        ("weights size", f"{size / 1e6:.2f} MB"),
    ]
    for name, value in rows:
        print(f"{name:<17} {value:>10}")
    if accuracy < MIN_ACCURACY:
        print(f"FAIL: test accuracy {accuracy:.4f} < {MIN_ACCURACY}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
