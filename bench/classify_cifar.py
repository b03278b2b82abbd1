"""Paper §5.1, Table 1 on CIFAR-10, side by side with the paper's numbers.

Data: shared/data/cifar10_train20k.npz (20,000 CIFAR-10 training images with labels; the
official test set is not available). `classify`'s own splits of it: 4,000 images held
out as test, --val-size more as the validation split that chooses C of every SVM (§5.2)
and the CNN's hyper-parameters, the rest (the training split) is what labels are drawn
from and what the DCGAN is trained on, without labels.

1. A DCGAN is trained on the training split at 32 px with the paper's recipe (Adam 2e-4,
   beta1 0.5, batch 128, uniform z) plus an EMA of G, for --minutes of CPU time (the
   budget; a checkpoint given with --checkpoint is reused instead; --minutes 0: none).
2. On the same draws (--repeats draws of 400 labels per class, and all labels of the
   training split), test accuracy of: D's features (all layers max-pooled to 4x4,
   BatchNorm statistics inferred over training images), a random D, raw pixels, the
   K-means network of Coates et al. 2011 (Table 1's baseline) and a supervised CNN of D's
   architecture; every feature method through the same L2-SVM. C is chosen on the
   validation split at the first 400-label draw and kept for the other draws and for all
   labels (one fit of the 14,000-example SVM per method).
3. Transfer (as the paper's Table 1 used an ImageNet-1k D): the features of D's trained
   elsewhere, on the same draws: the authors' released SVHN D, converted (--transfer).
   Without a trained D (--minutes 0), the transferred D takes the D row and random D has
   its architecture.

    python bench/classify_cifar.py [--minutes 35] [--width 64] [--repeats 3]

Prints the table with the paper's numbers beside ours, writes
bench/results/classify_cifar.json and docs/classify_cifar.png.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from harness import CACHE, ROOT, SHARED, command, parse_args, write_results

from dcgan import ModelConfig, TrainConfig, train
from dcgan.data.packed import PackedDataset
from dcgan.data.prepare import is_packed, prepare
from dcgan.data.sources import array_source
from dcgan.experiments.classify import ClassifyConfig, ClassifyResult, classify
from dcgan.experiments.classify.report import METHOD_NAMES, caption, to_dict
from dcgan.experiments.classify.splits import open_splits
from dcgan.io import atomic_write
from dcgan.options import opt
from dcgan.outcome import TrainingInterrupted
from dcgan.sampling import load

# Paper Table 1 (CIFAR-10 test accuracy %): (all labels, 400 per class).
PAPER = {"dcgan": (82.8, 73.8), "kmeans": (80.6, 63.7)}
PAPER_NOTE = "paper: D trained on ImageNet-1k, 50,000 CIFAR-10 training and 10,000 test images"


def training_split(args: argparse.Namespace) -> Path:
    """The images the labels are drawn from (no test, no validation), packed at 32 px."""
    splits = open_splits(args.data, 32, 3, val_size=args.val_size, cache=str(CACHE), seed=0)
    out = CACHE / f"classify_cifar_train_val{args.val_size}"
    if not is_packed(out):
        images = np.asarray(splits.train.images[splits.pool])  # N x 3 x 32 x 32
        assert splits.train.labels is not None
        source = array_source("npz", images, splits.train.labels[splits.pool], name="train split")
        prepare(source, out, 32, 3, workers=1, progress=False)
    return out


def checkpoint(args: argparse.Namespace, data: Path) -> Path:
    """--checkpoint when given, else the last run of this bench, else a DCGAN trained now."""
    if args.checkpoint:
        return Path(args.checkpoint)
    suffix = "" if args.precision == "fp32" else f"_{args.precision}"
    runs = ROOT / "bench" / "runs" / f"classify_cifar_w{args.width}{suffix}"
    done = sorted(p for p in runs.glob("*") if (p / "final.pt").is_file() or any(p.glob("*.pt")))
    if done and not args.retrain:
        print(f"reusing {done[-1]} (--retrain to train again)")
        return done[-1]
    print(f"training a DCGAN (width {args.width}) on {data} for {args.minutes} min")
    config = TrainConfig(
        data=str(data),
        out=str(runs),
        time_limit=args.minutes,
        epochs=args.epochs,
        model=ModelConfig(size=32, channels=3, ngf=args.width, ndf=args.width),
        ema=0.999,
        seed=0,
        cache=str(CACHE),
        sample_every=1000,
        checkpoint_every=args.checkpoint_every,
        keep=args.keep,
        precision=args.precision,
        progress=False,
    )
    try:
        return train(config).run_dir
    except TrainingInterrupted as stop:  # the checkpoint is saved: say how to go on
        run = stop.result.run_dir
        raise SystemExit(f"{stop}; continue with: dcgan train --resume {run}") from None


def run_classify(
    args: argparse.Namespace, ckpt: Path, baselines: bool, cnn: bool = False
) -> ClassifyResult:
    """The protocol on the same splits and draws: D's features, with `baselines` also raw
    pixels, random D and K-means, with `cnn` also the supervised CNN."""
    return classify(
        ClassifyConfig(
            checkpoint=str(ckpt),
            data=args.data,
            val_size=args.val_size,
            labels_per_class=(args.labels_per_class, 0),
            repeats=args.repeats,
            pixels=baselines,
            random_d=baselines,
            kmeans=baselines and args.kmeans_k > 0,
            kmeans_k=max(args.kmeans_k, 1),
            kmeans_patches=args.kmeans_patches,
            cnn=cnn,
            cnn_trials=max(args.cnn_trials, 1),
            cnn_steps=args.cnn_steps,
            c_values=tuple(float(c) for c in args.c.split(",")),
            c_once=True,
            c_carry=True,
            threads=args.threads,
            cache=str(CACHE),
        )
    )


def rows(
    main: ClassifyResult, main_label: str | None, transfer: dict[str, ClassifyResult]
) -> list[dict]:
    """One row per method: name, ours and the paper's accuracy (%) at 400/class and all.
    `main_label`: None when main's D was trained here, else the name of the transferred D
    it is (then the trained-here row is marked as not run)."""
    out, n = [], main.config.labels_per_class[-1]  # the few-label count (0 sorts first)
    if main_label is not None:
        name = f"{METHOD_NAMES['dcgan']}: D trained here on CIFAR"
        out.append({"method": "dcgan-cifar", "name": name, **_cells(None, 0, PAPER["dcgan"])})
    for method, by_count in main.results.items():
        name = METHOD_NAMES[method]
        if method == "dcgan":
            where = "D trained here on CIFAR" if main_label is None else f"{main_label} D"
            name = f"{name}: {where}"
        cells = _cells(by_count, n, PAPER.get(method))
        out.append({"method": method, "name": name, **cells})
    for label, result in transfer.items():
        name = f"{METHOD_NAMES['dcgan']}: {label} D"
        cells = _cells(result.results["dcgan"], n)
        out.append({"method": f"transfer-{label}", "name": name, **cells})
    return out


def _cells(by_count: dict | None, n: int, paper: tuple[float, float] | None = None) -> dict:
    """Ours at n labels per class ("few") and all labels; the paper's at 400 and all."""

    def cell(n: int) -> dict | None:
        if by_count is None:
            return None
        return {"mean": 100 * by_count[n].mean, "std": 100 * by_count[n].std}

    return {
        "few": cell(n),
        "all": cell(0),
        "paper_400": paper[1] if paper else None,
        "paper_all": paper[0] if paper else None,
    }


def table(table_rows: list[dict], few: int) -> str:
    def paper(value: float | None) -> str:
        return f"{value:.1f}" if value is not None else "–"

    lines = [
        f"| method | {few} labels/class | paper (400) | all labels | paper |",
        "|---|---|---|---|---|",
    ]
    for r in table_rows:
        a, b = r["few"], r["all"]
        ours_400 = f"{a['mean']:.2f} ± {a['std']:.2f}" if a else "not run"
        ours_all = f"{b['mean']:.2f}" if b else "not run"
        lines.append(
            f"| {r['name']} | {ours_400} | {paper(r['paper_400'])}"
            f" | {ours_all} | {paper(r['paper_all'])} |"
        )
    return "\n".join(lines) + "\n"


def plot(table_rows: list[dict], few: int, path: Path) -> Path:
    """Grouped bars (400/class, all labels) per method; the paper's numbers as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    y = np.arange(len(table_rows))[::-1]
    for shift, key, colour in ((0.2, "few", "tab:blue"), (-0.2, "all", "tab:orange")):
        means = [r[key]["mean"] if r[key] else 0.0 for r in table_rows]
        stds = [r[key]["std"] if r[key] else 0.0 for r in table_rows]
        label = f"{few} labels/class" if key == "few" else "all labels"
        ax.barh(y + shift, means, 0.38, xerr=stds, color=colour, label=f"ours, {label}")
        column = "paper_400" if key == "few" else "paper_all"
        paper = [(yy + shift, r[column]) for yy, r in zip(y, table_rows, strict=True)]
        paper = [(yy, v) for yy, v in paper if v is not None]
        if paper:
            ax.plot([v for _, v in paper], [yy for yy, _ in paper], "k|", markersize=14)
    ax.plot([], [], "k|", markersize=14, label="paper (D trained on ImageNet-1k)")
    ax.set_yticks(y, [r["name"] for r in table_rows], fontsize=8)
    ax.set(xlabel="CIFAR-10 test accuracy (%)", xlim=(0, 100))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.4, -0.14), ncol=3)
    out = atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out


def transfer_models(args: argparse.Namespace) -> dict[str, Path]:
    """Discriminators trained elsewhere: the authors' SVHN D, converted once."""
    models = {}
    if args.transfer and Path(args.transfer).is_dir():
        from dcgan.convert import convert

        out = CACHE / "newmu_svhn.pt"
        if not out.is_file():
            convert(args.transfer, out)
        models["authors' SVHN"] = out
    return models


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    data: str = opt(str(SHARED / "cifar10_train20k.npz"))
    minutes: float = opt(35.0, "DCGAN training budget (0: none)")
    epochs: float | None = opt(None, "or stop after these epochs")
    width: int = opt(64, "ngf = ndf of the DCGAN")
    checkpoint: str | None = opt(None, "reuse this run or checkpoint (no training)")
    retrain: bool = opt(False, "train even if a run exists")
    train_only: bool = opt(False, "stop after training")
    precision: Literal["fp32", "bf16", "auto"] = opt("fp32", "precision (fp32: as published)")
    checkpoint_every: int = opt(1000, "steps between the training run's checkpoints")
    keep: int = opt(3, "step checkpoints the run keeps (a length curve needs them all)")
    val_size: int = opt(2000)
    labels_per_class: int = opt(400, "the few-label column")
    repeats: int = opt(3, "draws of those labels")
    kmeans_k: int = opt(1600, "0: no K-means row")
    kmeans_patches: int = opt(50_000)
    cnn_trials: int = opt(4, "0: no CNN row")
    cnn_steps: int = opt(2000)
    transfer: str = opt(str(SHARED / "newmu_svhn_dcgan"), "'' for none")
    c: str = opt("1e-5,1e-4,1e-3,1e-2", "the SVM's C candidates")
    threads: int = opt(2)
    name: str = opt("classify_cifar", "name of the JSON and PNG")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(args.threads)

    t0 = time.monotonic()
    transfer = transfer_models(args)
    training: dict | None = None
    main_label = None
    if args.checkpoint or args.minutes > 0:
        data = training_split(args)
        ckpt = checkpoint(args, data)
        training = describe_training(ckpt, data)
        print(f"D of {ckpt}: step {training['steps']}, {training['epochs']} epochs")
        if args.train_only:
            return
    elif transfer:  # no trained D: the first transferred D takes its place
        main_label, ckpt = next(iter(transfer.items()))
        transfer.pop(main_label)
    else:
        raise SystemExit("--minutes 0 needs a D to transfer (--transfer) or --checkpoint")
    main_result = run_classify(args, ckpt, baselines=True)
    results = {label: run_classify(args, path, False) for label, path in transfer.items()}
    write(args, main_result, main_label, results, training, time.monotonic() - t0)
    if args.cnn_trials > 0:  # last: the slowest row, on the same splits and draws
        cnn = run_classify(args, ckpt, baselines=False, cnn=True)
        main_result.results["cnn"] = cnn.results["cnn"]
        main_result.cnn_search = cnn.cnn_search
        write(args, main_result, main_label, results, training, time.monotonic() - t0)


def describe_training(ckpt: Path, data: Path) -> dict:
    """The budget a trained D had: steps, epochs, width, the run's own time and epoch
    limits and its wall time (from its stats.jsonl, when `ckpt` is a run directory)."""
    model = load(ckpt)
    n_train = len(PackedDataset(data))
    stats = ckpt / "stats.jsonl" if ckpt.is_dir() else None
    wall = None
    if stats is not None and stats.is_file():
        rows = [json.loads(line) for line in stats.read_text().splitlines() if line]
        times = [row["time"] for row in rows if "time" in row]  # not the watchdog's rows
        # each resumed session restarts its clock: add up the sessions
        ends = [t for t, after in zip(times, times[1:], strict=False) if after < t]
        wall = round((sum(ends) + times[-1]) / 60, 1) if times else None
    return {
        "checkpoint": str(ckpt),
        "width": model.config.model.ndf,
        "steps": model.step,
        "batch_size": model.config.batch_size,
        "images": n_train,
        "epochs": round(model.step * model.config.batch_size / n_train, 2),
        "minutes_limit": model.config.time_limit,
        "epochs_limit": model.config.epochs,
        "wall_minutes": wall,
        "ema": model.config.ema,
    }


def write(
    args: argparse.Namespace,
    main: ClassifyResult,
    main_label: str | None,
    transfer: dict[str, ClassifyResult],
    training: dict | None,
    wall: float,
) -> None:
    """Print the table; write the JSON and the plot."""
    table_rows = rows(main, main_label, transfer)
    print(f"\n{caption(main)}\n\n{table(table_rows, args.labels_per_class)}")
    for method, by_count in main.results.items():
        print(f"time {method}: " + ", ".join(f"{r.seconds:.0f} s" for r in by_count.values()))
    print(f"total {wall / 60:.1f} min")
    report = {
        "table": table_rows,
        "paper": {"dcgan": {"all": 82.8, "400": 73.8}, "kmeans": {"all": 80.6, "400": 63.7}},
        "paper_note": PAPER_NOTE,
        "training": training,
        "main": to_dict(main),
        "transfer": {label: to_dict(r) for label, r in transfer.items()},
        "command": command(),
        "wall_seconds": round(wall, 1),
        "machine": f"2-core x86_64 CPU, {args.threads} torch thread(s)",
        "torch": torch.__version__,
    }
    out = write_results(args.name, report)
    png = plot(table_rows, args.labels_per_class, ROOT / "docs" / f"{args.name}.png")
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
