"""Done-when of issue 5: paper §5.2's few-label protocol on MNIST, with every baseline.

A DCGAN trained on MNIST train images WITHOUT labels (32 px, 1 channel, the paper's
recipe, ngf=ndf=64: the foundation's bench run) gives D's features, with BatchNorm
statistics inferred over 10,000 training images and features not standardised, as the
authors' §5.2 code does (`--bn`, `--standardize`); an L2-SVM on them is fitted from
10, 100 and 1000 labels per class, K=5 draws, and
compared on the MNIST test set (10,000 images) with raw pixels, a random D and a
supervised CNN of D's architecture. As in §5.2, train images held out as the validation
split (5,000 here, to fit the CPU budget) make every choice: the SVM's C (chosen on the
first draw, kept for the others), the CNN's hyper-parameters and step count (a random
search of 4 trials of 250 Adam steps, batch 32, per label count: the paper ran 64 trials,
which would take hours on 2 CPU cores). They are never drawn as labelled examples.

    nice python bench/classify_mnist.py [--checkpoint RUN_OR_PT] [--repeats 5]

Reuses the checkpoint given (default: bench/runs/00000-mnist32, from
bench/mnist_quality.py), or trains one like it when it is absent. Prints the table, writes
bench/results/classify_mnist.json and docs/classify_mnist.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import CACHE, ROOT, SHARED, parse_args, write_results

from dcgan import ModelConfig, TrainConfig, train
from dcgan.experiments.classify import ClassifyConfig, ClassifyResult, classify
from dcgan.experiments.classify.report import caption, plot, table, to_dict
from dcgan.io import atomic_write
from dcgan.options import opt

PARTS = CACHE / "classify_mnist_parts"


def merge(parts: list[ClassifyResult]) -> ClassifyResult:
    """One result from runs of the same protocol (seeds, draws, validation and test sets) on
    different label counts (--part). A method already measured at a label count is kept:
    later parts only fill in the methods missing (e.g. a CNN run kept from an earlier part)."""
    first = parts[0]
    counts = tuple(sorted({n for p in parts for n in p.config.labels_per_class}))
    results: dict = {}
    for part in parts:
        for method, by_count in part.results.items():
            for n, r in by_count.items():
                results.setdefault(method, {}).setdefault(n, r)
    searches: dict = {}
    for part in parts:
        for n, search in part.cnn_search.items():
            searches.setdefault(n, search)
    return dataclasses.replace(
        first,
        config=dataclasses.replace(
            first.config, labels_per_class=counts, cnn=any(p.config.cnn for p in parts)
        ),
        results=results,
        cnn_search=searches,
        seconds=sum(p.seconds for p in parts),
    )


def checkpoint(path: Path, data: str, runs: Path) -> Path:
    """`path` if it exists, else a DCGAN trained like the foundation's MNIST bench run."""
    if path.exists():
        return path
    print(f"{path} is absent: training a DCGAN on the MNIST train images (no labels)")
    config = TrainConfig(
        data=data,
        out=str(runs),
        epochs=2.0,
        precision="fp32",  # the published figures predate bf16 as the CPU default
        model=ModelConfig(size=32, channels=1, ngf=64, ndf=64),
        cache=str(CACHE),
    )
    return train(config).run_dir


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    checkpoint: str = opt(str(ROOT / "bench" / "runs" / "00000-mnist32"))
    data: str = opt(str(SHARED / "mnist.npz"))
    labels_per_class: str = opt("10,100,1000")
    repeats: int = opt(5)
    val_size: int = opt(5_000)
    cnn_trials: int = opt(4)
    cnn_steps: int = opt(250)
    bn: str = opt("inferred", "BatchNorm statistics of D's features")
    threads: int = opt(1)
    name: str = opt("classify_mnist", "name of the JSON and PNG")
    layers: str | None = opt(None, "D layers, e.g. 2,3 (default: all)")
    grid: int = opt(4)
    no_cnn: bool = opt(False)
    shift: int = opt(0, "moved copies of labelled examples")
    standardize: bool = opt(False, "standardise the features")
    part: bool = opt(False, "run, keep the result for --merge")
    merge: bool = opt(False, "report the --part runs together")


def main() -> None:
    args = parse_args(Args, __doc__)
    counts = tuple(int(n) for n in args.labels_per_class.split(","))
    if args.merge:  # the label counts were run in parallel processes, one --part each
        files = [PARTS / f"{n}.pkl" for n in counts]  # then kept parts: PARTS/{n}-*.pkl
        files += [f for n in counts for f in sorted(PARTS.glob(f"{n}-*.pkl"))]
        parts = [pickle.loads(f.read_bytes()) for f in files]
        print("merged:", ", ".join(f.name for f in files))
        report(merge(parts), max(p.seconds for p in parts), args)
        return

    ckpt = checkpoint(Path(args.checkpoint), args.data, ROOT / "bench" / "runs")
    config = ClassifyConfig(
        checkpoint=str(ckpt),
        data=args.data,
        labels_per_class=counts,
        repeats=args.repeats,
        val_size=args.val_size,
        c_once=True,
        cnn=not args.no_cnn,
        cnn_trials=args.cnn_trials,
        cnn_steps=args.cnn_steps,
        grid=args.grid,
        bn=args.bn,
        standardize=args.standardize,
        shift=args.shift,
        layers=tuple(int(i) for i in args.layers.split(",")) if args.layers else None,
        threads=args.threads,
        cache=str(CACHE),
    )
    t0 = time.monotonic()
    result = classify(config)
    if args.part:
        for n in counts:
            part = merge([result])
            part.config.labels_per_class = (n,)
            part.results = {m: {n: r[n]} for m, r in result.results.items()}
            part.cnn_search = {k: v for k, v in result.cnn_search.items() if k == n}
            atomic_write(PARTS / f"{n}.pkl", lambda f, part=part: pickle.dump(part, f))
        print(f"{caption(result)}\n\n{table(result)}\nkept in {PARTS}: --merge reports them")
        return
    report(result, time.monotonic() - t0, args)


def report(result: ClassifyResult, wall: float, args: argparse.Namespace) -> None:
    """Print the table and timings; write the JSON and the plot."""
    print(f"\n{caption(result)}\n\n{table(result)}")
    for method, by_count in result.results.items():
        times = ", ".join(f"{n}/class {r.seconds:.0f} s" for n, r in by_count.items())
        print(f"time {method}: {times}")
    print(f"total {wall / 60:.1f} min on {args.threads} torch thread(s)")
    report = to_dict(result) | {
        "wall_seconds": round(wall, 1),
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} torch thread(s)",
        "torch": torch.__version__,
    }
    out = write_results(args.name, report)
    png = plot(result, ROOT / "docs" / f"{args.name}.png")
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
