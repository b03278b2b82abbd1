"""Done-when 1 of the foundation: a DCGAN on MNIST at 32 px, at most 2 epochs on this CPU.

The project's MNIST classifier (bench/mnist_classifier.py, >= 99% test accuracy) labels
1,000 samples: we want >= 90% of them confident (max softmax >= 0.9) and every digit at
5-15% of the samples (no mode collapse). Both BatchNorm modes of sampling are measured;
this is the measurement behind the default `--bn`.

    python bench/mnist_quality.py [--epochs 2] [--ngf 64]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from perf_common import cpu_model

from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.metrics.mnist_classifier import classify_samples, load_mnist_classifier
from dcgan.sampling import save_grid

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def summary(r: dict) -> dict:
    """The JSON-able part of classify_samples' answer."""
    return {
        "frac_confident": r["frac_confident"],
        "mean_confidence": float(r["confidences"].mean()),
        "class_fractions": [round(f, 4) for f in r["class_fractions"]],
        "min_class_fraction": r["min_class_fraction"],
        "max_class_fraction": r["max_class_fraction"],
    }


def real_test_digits(path: str, n: int) -> torch.Tensor:
    """The first n MNIST test digits in [-1, 1]: the judge's ceiling for the same statistic."""
    with np.load(path) as f:
        x = torch.from_numpy(f["x_test"][:n]).float()
    return (x / 127.5 - 1).unsqueeze(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "mnist.npz"))
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, help="D width (default: --ngf)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--ema", type=float, default=0.999, help="EMA decay of G (0 = none)")
    ap.add_argument("--lr-d", type=float, help="D's learning rate (default: the paper's 2e-4)")
    ap.add_argument("--lr-g", type=float, help="G's learning rate (default: the paper's 2e-4)")
    ap.add_argument("--real-label", type=float, default=1.0, help="0.9 = one-sided smoothing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "runs"))
    ap.add_argument("--resume", help="a run directory to continue or to evaluate")
    ap.add_argument(
        "--name", default="mnist_quality", help="results JSON name (bench/results/NAME.json)"
    )
    ap.add_argument("--figure", default=str(ROOT / "docs" / "mnist32.png"), help="sample grid")
    args = ap.parse_args()

    config = TrainConfig(
        data=args.data,
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        model=ModelConfig(size=32, channels=1, ngf=args.ngf, ndf=args.ndf or args.ngf),
        ema=args.ema or None,
        lr_d=args.lr_d,
        lr_g=args.lr_g,
        real_label=args.real_label,
        seed=args.seed,
        sample_every=200,
        checkpoint_every=200,
        keep=10,
        cache=str(ROOT / ".cache" / "dcgan"),
    )
    result = train(config, resume=args.resume)
    if result.interrupted:
        raise SystemExit(f"interrupted; continue with --resume {result.run_dir}")
    judge = load_mnist_classifier()
    rows = []
    variants = [("G_ema", bn) for bn in ("batch", "running") if args.ema] + [("G", "batch")]
    for which, bn in variants:
        model = load(result.run_dir, ema=which == "G_ema")
        images = sample(model, n=args.n, bn=bn)
        r = classify_samples(images, judge)
        ok = (
            r["frac_confident"] >= 0.9
            and 0.05 <= r["min_class_fraction"] <= r["max_class_fraction"] <= 0.15
        )
        rows.append(
            {
                "generator": which,
                "bn": bn,
                **summary(r),
                "passed": ok,
            }
        )
        if (which, bn) == variants[0]:
            save_grid(images[:64], args.figure, nrow=8)
    stats = [json.loads(x) for x in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    print(
        f"\nMNIST 32 px, {result.step} steps ({stats[-1]['epoch']:.2f} epochs), "
        f"ngf={args.ngf} ndf={args.ndf or args.ngf}, batch {args.batch_size}, EMA {args.ema}, "
        f"lr D/G {args.lr_d or 2e-4:g}/{args.lr_g or 2e-4:g}, real label {args.real_label}, "
        f"trained in {stats[-1]['time'] / 60:.1f} min"
    )
    real = classify_samples(real_test_digits(args.data, args.n), judge)
    rows.append({"generator": "real test", "bn": "-", **summary(real), "passed": None})
    print(
        f"{'images':<10} {'bn':<8} {'conf>=0.9':>10} {'mean conf':>10} {'min class':>10}"
        f" {'max class':>10}  pass"
    )
    for r in rows:
        print(
            f"{r['generator']:<10} {r['bn']:<8} {r['frac_confident']:>10.3f} "
            f"{r['mean_confidence']:>10.3f} "
            f"{r['min_class_fraction']:>10.3f} {r['max_class_fraction']:>10.3f}  {r['passed']}"
        )
    out = {
        "run_dir": str(result.run_dir),
        "steps": result.step,
        "epochs": stats[-1]["epoch"],
        "train_seconds": stats[-1]["time"],
        "img_per_s": stats[-1]["img_s"],
        "ngf": args.ngf,
        "ndf": args.ndf or args.ngf,
        "ema": args.ema,
        "batch_size": args.batch_size,
        "lr_d": args.lr_d or 2e-4,
        "lr_g": args.lr_g or 2e-4,
        "real_label": args.real_label,
        "seed": args.seed,
        "n_samples": args.n,
        "machine": cpu_model(),
        "final_loss_D": stats[-1]["loss_D"],
        "final_loss_G": stats[-1]["loss_G"],
        "sampling": rows,
    }
    path = ROOT / "bench" / "results" / f"{args.name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
