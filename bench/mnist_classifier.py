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

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dcgan.metrics.mnist_classifier import DEFAULT_WEIGHTS, MnistClassifier
from dcgan.metrics.train_extractor import augment

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
RESULTS = ROOT / "bench" / "results" / "mnist_classifier.json"
MIN_ACCURACY = 0.99


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1]."""
    return torch.from_numpy(x).float().div(127.5).sub(1.0).unsqueeze(1)


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


@torch.no_grad()
def evaluate(model: MnistClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy."""
    model.eval()
    preds = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((preds == y).double().mean())


def save_atomically(obj: dict, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.chmod(tmp, 0o644)  # mkstemp creates the file private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mnist.npz path")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak one-cycle learning rate")
    parser.add_argument("--junk-weight", type=float, default=0.5, help="outlier-exposure weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="weights file")
    args = parser.parse_args(argv)

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
        print(f"epoch {epoch}: test accuracy {evaluate(model, x_test, y_test):.4f}")
    train_s = time.perf_counter() - start
    accuracy = evaluate(model, x_test, y_test)
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
    save_atomically({"state_dict": state, "meta": meta}, args.out)
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

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
