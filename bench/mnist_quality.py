"""Done-when 1 of the foundation: a DCGAN on MNIST at 32 px, at most 2 epochs on this CPU.

The project's MNIST classifier (bench/mnist_classifier.py, >= 99% test accuracy) labels
1,000 samples: we want >= 90% of them confident (max softmax >= 0.9) and every digit at
5-15% of the samples (no mode collapse). Both BatchNorm modes of sampling are measured;
this is the measurement behind the default `--bn`.

    python bench/mnist_quality.py [--epochs 2] [--ngf 64]
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from harness import CACHE, ROOT, SHARED, cpu_model, parse_args, write_results

from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.data.packed import to_unit_range
from dcgan.metrics.mnist_classifier import classify_samples, load_mnist_classifier
from dcgan.options import opt
from dcgan.sampling import save_grid


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
        return to_unit_range(torch.from_numpy(f["x_test"][:n])).unsqueeze(1)


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    data: str = opt(str(SHARED / "mnist.npz"))
    epochs: float = opt(2.0)
    ngf: int = opt(64)
    ndf: int | None = opt(None, "D width (default: --ngf)")
    batch_size: int = opt(128)
    n: int = opt(1000)
    ema: float = opt(0.999, "EMA decay of G (0 = none)")
    lr_d: float | None = opt(None, "D's learning rate (default: the paper's 2e-4)")
    lr_g: float | None = opt(None, "G's learning rate (default: the paper's 2e-4)")
    real_label: float = opt(1.0, "0.9 = one-sided smoothing")
    seed: int = opt(0)
    out: str = opt(str(ROOT / "bench" / "runs"))
    resume: str | None = opt(None, "a run directory to continue or to evaluate")
    name: str = opt("mnist_quality", "results JSON name (bench/results/NAME.json)")
    figure: str = opt(str(ROOT / "docs" / "mnist32.png"), "sample grid")


def main() -> None:
    args = parse_args(Args, __doc__)

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
        precision="fp32",  # the published figures predate bf16 as the CPU default
        sample_every=200,
        checkpoint_every=200,
        keep=10,
        cache=str(CACHE),
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
    path = write_results(args.name, out)
    print(f"written {path}")


if __name__ == "__main__":
    main()
