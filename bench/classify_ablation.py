"""Why the D-feature SVM scores what it does on MNIST at 100 labels per class: the same
protocol as bench/classify_mnist.py (validation split of 10,000 train images, MNIST test
set, K draws) for D only, varying one thing at a time: the training length of the DCGAN
(the checkpoints of --run, and of --long-run: the same run continued), the layers whose
features are used, the pooling grid, the BatchNorm statistics of the feature extractor
(running, batch, inferred over 10,000 training images), the C range, standardisation, the
width of D (--wide-run: the same recipe at ndf=128), moved copies of the labelled examples
(--shift), and a random D under the same options.
Every row's C is chosen on the validation split; its validation accuracies are kept, so
settings can be compared without looking at the test set.

    nice python bench/classify_ablation.py [--run RUN_DIR] [--long-run DIR] [--wide-run DIR]
        [--repeats 5] [--only "NAME;NAME"]

Writes bench/results/classify_ablation.json and prints a Markdown table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from harness import CACHE, ROOT, SHARED, parse_args, results_path, write_results

from dcgan.experiments.classify import ClassifyConfig, classify
from dcgan.options import opt


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    run: str = opt(str(ROOT / "bench" / "runs" / "00000-mnist32"))
    data: str = opt(str(SHARED / "mnist.npz"))
    labels_per_class: int = opt(100)
    repeats: int = opt(5)
    threads: int = opt(1)
    long_run: str | None = opt(None, "the run continued: its checkpoints are measured too")
    wide_run: str | None = opt(None, "a run of the same recipe with ndf=128")
    only: str | None = opt(None, "variant names to run, separated by semicolons")


def main() -> None:
    args = parse_args(Args, __doc__)

    run = Path(args.run)
    variants: dict[str, dict] = {}
    for folder in (run, *([Path(args.long_run)] if args.long_run else [])):
        for ckpt in sorted(folder.glob("ckpt-*.pt")):
            variants[f"step {int(ckpt.stem.split('-')[1])}"] = {"checkpoint": str(ckpt)}
    latest = str(run / "latest.pt")
    for layers in ((1,), (2,), (3,), (2, 3)):
        variants[f"layers {','.join(map(str, layers))}"] = {"checkpoint": latest, "layers": layers}
    for grid in (1, 2, 3):
        variants[f"grid {grid}x{grid}"] = {"checkpoint": latest, "grid": grid}
    variants["grid 2x2, layers 3"] = {"checkpoint": latest, "grid": 2, "layers": (3,)}
    variants["random D"] = {"checkpoint": latest, "random_d": True}
    variants["random D, grid 2x2"] = {"checkpoint": latest, "random_d": True, "grid": 2}
    for bn in ("batch", "inferred"):
        variants[f"bn {bn}"] = {"checkpoint": latest, "bn": bn}
    for grid in (2, 3):
        variants[f"bn inferred, grid {grid}x{grid}"] = {
            "checkpoint": latest,
            "bn": "inferred",
            "grid": grid,
        }
    variants["random D, bn inferred"] = {"checkpoint": latest, "random_d": True, "bn": "inferred"}
    variants["bn inferred, C 1e-7..10"] = {
        "checkpoint": latest,
        "bn": "inferred",
        "c_values": tuple(10.0**e for e in range(-7, 2)),
    }
    variants["bn inferred, not standardised"] = {
        "checkpoint": latest,
        "bn": "inferred",
        "standardize": False,
        "c_values": tuple(10.0**e for e in range(-6, 1)),
    }
    unstandardised = variants["bn inferred, not standardised"]
    variants["not standardised, grid 3x3"] = {**unstandardised, "grid": 3}
    variants["not standardised, shift 1 (4 moved copies)"] = {**unstandardised, "shift": 1}
    variants["not standardised, shift 2 (8 moved copies)"] = {**unstandardised, "shift": 2}
    if args.wide_run:
        wide = str(Path(args.wide_run) / "latest.pt")
        for bn in ("running", "inferred"):
            variants[f"ndf 128, bn {bn}"] = {"checkpoint": wide, "bn": bn}
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only.split(";")}
    out = results_path("classify_ablation")
    old = json.loads(out.read_text())["rows"] if out.is_file() else {}

    rows = dict(old)  # a partial run (--only) updates the rows it measures
    n = args.labels_per_class

    def write() -> None:
        # rows another ablation process wrote meanwhile are kept
        on_disk = json.loads(out.read_text())["rows"] if out.is_file() else {}
        rows.update({k: v for k, v in on_disk.items() if k not in variants})
        report = {"labels_per_class": n, "repeats": args.repeats, "run": str(run), "rows": rows}
        write_results(out, report)

    for name, options in variants.items():
        t0 = time.monotonic()
        options = {"random_d": False, **options}
        result = classify(
            ClassifyConfig(
                data=args.data,
                labels_per_class=(n,),
                repeats=args.repeats,
                val_size=10_000,
                c_once=True,
                pixels=False,
                cnn=False,
                threads=args.threads,
                cache=str(CACHE),
                progress=False,
                **options,
            )
        )
        method = "random-d" if options["random_d"] else "dcgan"
        r = result.results[method][n]
        rows[name] = {
            "accuracy_mean": r.mean,
            "accuracy_std": r.std,
            "accuracies": r.accuracies,
            "C": r.chosen[0]["C"],
            "val_selection": r.chosen[0]["selection"],
            "feature_dim": result.feature_dim,
            "seconds": round(time.monotonic() - t0, 1),
            **{k: v for k, v in options.items() if k != "random_d"},
            "method": method,
            "checkpoint_step": result.checkpoint_step,
        }
        write()  # after every row: a long ablation keeps what it measured
        print(
            f"{name}: {100 * r.mean:.2f} ± {100 * r.std:.2f}% (C={r.chosen[0]['C']:g})", flush=True
        )

    print(
        f"\n| D features, {n} labels/class | dim | val accuracy % (first draw, chosen C)"
        " | test accuracy % | C |\n|---|---|---|---|---|"
    )
    for name, row in rows.items():
        val = 100 * max(row["val_selection"].values()) if row["val_selection"] else float("nan")
        acc = f"{100 * row['accuracy_mean']:.2f} ± {100 * row['accuracy_std']:.2f}"
        print(f"| {name} | {row['feature_dim']} | {val:.2f} | {acc} | {row['C']:g} |")
    write()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
