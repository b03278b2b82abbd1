"""What limits D's features on CIFAR-10 (paper §5.1): one trained D, many ways to read it.

For each checkpoint and each feature variant (which conv layers, the pooling grid, the
BatchNorm statistics, standardising the features before the SVM), the test accuracy of the
L2-SVM at --labels-per-class on the same draws as bench/classify_cifar.py (same splits,
seed 0), C chosen on the validation split at the first draw. A random D of the same
architecture is the control of each width (once per width). Several checkpoints of one run
measure the training length. K-means on the first draw was 62.08%
(bench/results/classify_cifar.json).

    python bench/classify_cifar_ablation.py --checkpoint RUN [--checkpoint RUN2] [--repeats 3]

Prints one table, writes bench/results/NAME.json; with several checkpoints, also
docs/NAME.png: the paper's reading of D against training epochs, one line per width and
training precision, its random D and K-means (from bench/results/classify_cifar.json) as
references. --compare OTHER draws the rows of an earlier report (bench/results/OTHER.json)
beside them without measuring them again, e.g. a bf16 run's curve against an fp32 run's;
--run NAME keeps two runs of one width and precision apart (e.g. the same seed trained on
two CPUs, whose bf16 kernels round differently).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import (
    CACHE,
    ROOT,
    SHARED,
    command,
    cpu_name,
    parse_args,
    results_path,
    write_results,
)

from dcgan.data.packed import PackedDataset
from dcgan.errors import DcganError
from dcgan.experiments.classify import ClassifyConfig, classify
from dcgan.io import atomic_write
from dcgan.options import opt
from dcgan.sampling import load

RANDOM = "random D, all layers, 4x4"
# name -> ClassifyConfig fields; the first is the paper's reading (§5.1).
VARIANTS: dict[str, dict] = {
    "all layers, 4x4 (paper)": {},
    "all layers, 4x4, standardised": {"standardize": True},
    "all layers, 4x4, running BN": {"bn": "running"},
    "all layers, 2x2": {"grid": 2},
    "all layers, 2x2, standardised": {"grid": 2, "standardize": True},
    "layers 2-3, 4x4": {"layers": (2, 3)},
    "layers 2-3, 4x4, standardised": {"layers": (2, 3), "standardize": True},
    "layer 3, 4x4": {"layers": (3,)},
    "layers 1-2, 4x4": {"layers": (1, 2)},
}


def run(args: argparse.Namespace, ckpt: str, fields: dict, random_d: bool) -> dict:
    result = classify(
        ClassifyConfig(
            checkpoint=ckpt,
            data=args.data,
            val_size=args.val_size,
            labels_per_class=(args.labels_per_class,),
            repeats=args.repeats,
            pixels=False,
            random_d=random_d,
            cnn=False,
            c_values=tuple(float(c) for c in args.c.split(",")),
            c_once=True,
            threads=args.threads,
            cache=str(CACHE),
            progress=False,
            **fields,
        )
    )
    out = {}
    for method, by_count in result.results.items():
        r = by_count[args.labels_per_class]
        out[method] = {
            "mean": 100 * r.mean,
            "std": 100 * r.std,
            "accuracies": [100 * a for a in r.accuracies],
            "C": r.chosen[0]["C"],
            "dim": result.feature_dim,
        }
    return out


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    checkpoint: list[str] | None = opt(None, "run or .pt (repeat)", required=True)
    data: str = opt(str(SHARED / "cifar10_train20k.npz"))
    variants: str = opt(",".join(str(i) for i in range(len(VARIANTS))))
    val_size: int = opt(2000)
    labels_per_class: int = opt(400)
    repeats: int = opt(1)
    c: str = opt("1e-6,1e-5,1e-4,1e-3,1e-2")
    threads: int = opt(2)
    name: str = opt("classify_cifar_ablation")
    keep: bool = opt(False, "reuse rows of an earlier NAME.json")
    compare: str = opt("", "earlier reports drawn in the plot, comma-separated names")
    run: str = opt("", "a name for these checkpoints' curve (two runs of one width, precision)")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(args.threads)
    names = [list(VARIANTS)[int(i)] for i in args.variants.split(",")]

    out = results_path(args.name)
    done = earlier_rows(out, args) if args.keep else []
    t0, rows, widths = time.monotonic(), [], set()
    for ckpt in args.checkpoint:
        model = load(ckpt)
        width, precision = model.config.model.ndf, model.config.precision
        where = f"width {width}, {precision}, step {model.step}"
        epochs = epochs_of(model.step, model.config.batch_size, model.config.data)
        for i, name in enumerate(names):
            start, random_d = time.monotonic(), i == 0 and width not in widths
            widths.add(width)
            here = [r for r in done if r["checkpoint"] == str(ckpt)]
            here = [r for r in here if r.get("run", "") == args.run]  # two runs, one path
            kept = [r for r in here if r["variant"] == name]
            if kept:
                rows += kept + ([r for r in here if r["variant"] == RANDOM] if random_d else [])
                print(f"| {where} | {name} | kept from {out.name} |")
                continue
            found = run(args, ckpt, VARIANTS[name], random_d)
            for method, cell in found.items():
                label = name if method == "dcgan" else RANDOM
                row = dict(checkpoint=str(ckpt), model=where, width=width, precision=precision)
                row.update(step=model.step, run=args.run)
                row.update(epochs=epochs, variant=label, **cell)
                rows.append(row)
                print(
                    f"| {where} | {label} | {cell['dim']} | {cell['mean']:.2f} ± {cell['std']:.2f}"
                    f" | {cell['C']:g} | {time.monotonic() - start:.0f} s |",
                    flush=True,
                )
            write_report(out, rows, args, time.monotonic() - t0)  # a killed run keeps these
    write_report(out, rows, args, time.monotonic() - t0)
    print(f"wrote {out}")
    if len(args.checkpoint) > 1:
        others = [r for name in args.compare.split(",") if name for r in report_rows(name)]
        png = plot_length(rows + others, args.labels_per_class, ROOT / "docs" / f"{args.name}.png")
        print(f"wrote {png}")


def protocol(args: argparse.Namespace) -> dict:
    """What makes two rows comparable."""
    keys = ("labels_per_class", "repeats", "c", "val_size")
    return {"data": Path(args.data).name, **{key: getattr(args, key) for key in keys}}


def earlier_rows(path: Path, args: argparse.Namespace) -> list[dict]:
    """The rows of an earlier report at `path` measured under the same protocol."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    return report["rows"] if report.get("protocol") == protocol(args) else []


def report_rows(name: str) -> list[dict]:
    """The rows of bench/results/NAME.json."""
    path = results_path(name)
    if not path.is_file():
        raise SystemExit(f"--compare {name}: no {path}")
    return json.loads(path.read_text())["rows"]


def write_report(path: Path, rows: list[dict], args: argparse.Namespace, wall: float) -> None:
    report = {
        "rows": rows,
        "protocol": protocol(args),
        "command": command(),
        "wall_seconds": round(wall, 1),
        "machine": f"{cpu_name()}, {args.threads} torch thread(s)",
        "torch": torch.__version__,
    }
    write_results(path, report)


def epochs_of(step: int, batch_size: int, data: str) -> float | None:
    """Epochs of the training data behind `step` (None when that data is not on disk)."""
    try:
        return round(step * batch_size / len(PackedDataset(data)), 1)
    except (OSError, DcganError):  # the data of a run made elsewhere
        return None


def curves(rows: list[dict]) -> dict[tuple[int, str, str], list[tuple[float, float]]]:
    """(width, precision, run) -> sorted (epochs, accuracy) of the paper's reading of D; a
    row without a precision is fp32, one without a run name is run ""."""
    first, out = list(VARIANTS)[0], {}
    for r in rows:
        if r["variant"] == first and r["epochs"] is not None:
            key = (r["width"], r.get("precision", "fp32"), r.get("run", ""))
            out.setdefault(key, []).append((r["epochs"], r["mean"]))
    return {key: sorted(points) for key, points in sorted(out.items())}


def plot_length(rows: list[dict], labels_per_class: int, path: Path) -> Path:
    """Accuracy of the paper's reading of D against epochs, a line per width, precision and
    run; random D as a grey dashed line per width, K-means of the first draw as a black line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), constrained_layout=True)
    for i, ((width, precision, run), points) in enumerate(curves(rows).items()):
        marker = "o-" if precision == "fp32" else "s-"
        label = f"D, width {width}, {precision}" + (f", {run}" if run else "")
        ax.plot(*zip(*points, strict=True), marker, color=f"C{i}", label=label)
    randoms = {r["width"]: r["mean"] for r in rows if r["variant"] == RANDOM}
    for (width, mean), dashes in zip(sorted(randoms.items()), ("--", ":", "-."), strict=False):
        ax.axhline(mean, color="grey", ls=dashes, lw=1, label=f"random D, width {width}")
    bench = results_path("classify_cifar")
    if bench.is_file():
        kmeans = json.loads(bench.read_text())["main"]["methods"].get("kmeans")
        same_count = (kmeans or {}).get("by_labels_per_class", {}).get(str(labels_per_class))
        if same_count:  # K-means on the same first draw
            first_draw = same_count["accuracies"][0]
            ax.axhline(100 * first_draw, color="k", lw=1.2, label="K-means, K = 1,600")
    ax.set(xlabel="training epochs (14,000 CIFAR-10 images)", ylabel="test accuracy (%)")
    ax.set_title(f"D features + L2-SVM, {labels_per_class} labels/class (first draw)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    out = atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out


if __name__ == "__main__":
    main()
