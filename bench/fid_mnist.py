"""FID on MNIST with the shipped MNIST extractor (issue 7's done-when numbers).

1. Floors and ceilings: MNIST test vs train, two halves of MNIST test, Fashion-MNIST (1,000)
   vs MNIST, uniform noise vs MNIST.
2. A DCGAN at several checkpoints: a 32 px MNIST run trained here with evaluation during
   training (FID on 2,000 samples every --eval-every steps, best.pt kept) and every
   checkpoint kept, each then evaluated on --n samples; plus the foundation issue's run
   (--foundation) when it is there.

Every MNIST-extractor number is a *domain* FID: comparable with other MNIST-extractor
numbers only, never with Inception FID. Writes bench/results/fid_mnist.json.

    python bench/fid_mnist.py [--epochs 2] [--n 10000] [--skip-train]
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import CACHE, ROOT, SHARED, parse_args, write_results

from dcgan import ModelConfig, TrainConfig, train
from dcgan.conventions import quantize
from dcgan.data.packed import PackedDataset, is_packed
from dcgan.data.prepare import prepare
from dcgan.metrics.evaluate import Evaluator
from dcgan.metrics.extractors import get_extractor
from dcgan.metrics.fidelity import Features, Reference, compute
from dcgan.metrics.reference import dataset_features, reference
from dcgan.options import opt
from dcgan.resume import is_run_dir
from dcgan.sampling import load

FOUNDATION = ROOT.parent / "main" / "bench" / "runs" / "00000-mnist32"
METRICS = ["fid", "kid", "is", "pr"]


def packed(name: str, source: Path, **kw) -> PackedDataset:
    out = CACHE / "bench" / name
    if not is_packed(out):
        prepare(source, out, 32, channels=1, progress=False, **kw)
    return PackedDataset(out)


def row(name: str, values: dict, n_fake: int, n_real: int, **extra) -> dict:
    return {"name": name, "n_fake": n_fake, "n_real": n_real, **extra, **values}


def checkpoints(run: Path, every: int = 1) -> list[Path]:
    """The run's step checkpoints `every` steps apart, and its last one."""
    ckpts = sorted(run.glob("ckpt-*.pt"))
    return [c for c in ckpts if int(c.stem[5:]) % every == 0 or c == ckpts[-1]]


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    n: int = opt(10000, "samples and real images")
    epochs: float = opt(2.0)
    eval_every: int = opt(100)
    run: str | None = opt(None, "an existing run directory to evaluate instead of training")
    every: int = opt(200, "evaluate checkpoints this far apart")
    foundation: str = opt(str(FOUNDATION))


def main() -> None:
    args = parse_args(Args, __doc__)
    t0 = time.monotonic()
    ext = get_extractor("mnist")
    mnist = SHARED / "mnist.npz"
    train_set = packed("mnist-train32", mnist, split="train")
    test_set = packed("mnist-test32", mnist, split="test")
    fashion = packed("fashion1000-32", SHARED / "fashion_mnist_test_subset1000.npz", key="x_test")
    ref = reference(train_set, ext, args.n, CACHE)  # the DCGAN's training data, as its reference

    rows = []
    test_feats = dataset_features(test_set, ext)
    rows.append(row("MNIST test vs MNIST train", compute(METRICS, test_feats, ref), 10000, args.n))
    half_a = Features(test_feats.features[::2], test_feats.logits[::2])
    half_b = Reference.of(Features(test_feats.features[1::2]))
    rows.append(row("MNIST test, half vs half", compute(METRICS, half_a, half_b), 5000, 5000))
    fash = dataset_features(fashion, ext)
    rows.append(
        row("Fashion-MNIST (1,000) vs MNIST train", compute(METRICS, fash, ref), 1000, args.n)
    )
    noise = torch.rand(args.n, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    rows.append(
        row(
            "uniform noise vs MNIST train",
            compute(METRICS, ext(quantize(noise)), ref),
            args.n,
            args.n,
        )
    )
    print_rows("Reference points (MNIST extractor)", rows)

    run = Path(args.run) if args.run else None
    if run is None:
        config = TrainConfig(
            data=str(mnist),
            out=str(ROOT / "bench" / "runs"),
            epochs=args.epochs,
            model=ModelConfig(size=32, channels=1, ngf=64, ndf=64),
            sample_every=100,
            checkpoint_every=args.eval_every,
            keep=1000,
            eval_every=args.eval_every,
            eval_extractor="mnist",
            eval_n=2000,
            cache=str(CACHE),
            progress=False,
        )
        run = train(config).run_dir
    evaluator = Evaluator(train_set, ext, METRICS, args.n, CACHE)
    curve = []
    for ckpt in checkpoints(run, args.every) + (
        [run / "best.pt"] if (run / "best.pt").is_file() else []
    ):
        model = load(ckpt)
        values = evaluator(model.generator, model.config.z_dist)
        curve.append(row(f"{run.name} {ckpt.name}", values, args.n, args.n, step=model.step))
        print_rows("", curve[-1:], header=False)
    in_training = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    in_training = [
        {"step": r["step"], "fid": r["fid"]} for r in in_training if r.get("eval") == "fid"
    ]
    foundation = []
    if is_run_dir(Path(args.foundation)):
        for ckpt in checkpoints(Path(args.foundation)):
            model = load(ckpt)
            values = evaluator(model.generator, model.config.z_dist)
            foundation.append(
                row(f"foundation {ckpt.name}", values, args.n, args.n, step=model.step)
            )
    print_rows(f"DCGAN checkpoints ({run.name}, {args.n} samples each)", curve)
    if foundation:
        print_rows("Foundation issue's run (2 epochs, last 3 checkpoints kept)", foundation)
    print(
        "\nFID during training (2,000 samples):",
        ", ".join(f"{r['step']}: {r['fid']:.2f}" for r in in_training),
    )
    out = {
        "extractor": ext.name,
        "note": "MNIST-classifier features: not comparable to Inception FID",
        "n": args.n,
        "reference": "MNIST train, 10,000 images drawn with seed 0, packed at 32 px",
        "reference_points": rows,
        "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
        "checkpoints": curve,
        "in_training_fid_2000": in_training,
        "foundation": foundation,
        "threads": torch.get_num_threads(),
        "machine": platform.processor(),
        "seconds": round(time.monotonic() - t0, 1),
    }
    path = write_results("fid_mnist", out)
    print(f"written {path}")


def print_rows(title: str, rows: list[dict], header: bool = True) -> None:
    if header:
        print(f"\n{title}")
        print(f"{'':<44} {'FID':>8} {'KID':>16} {'IS':>6} {'prec':>5} {'rec':>5}")
    for r in rows:
        kid = f"{r['kid_mean']:.4f}±{r['kid_std']:.4f}"
        print(
            f"{r['name']:<44} {r['fid']:>8.3f} {kid:>16} {r['is_mean']:>6.2f} "
            f"{r['precision']:>5.2f} {r['recall']:>5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
