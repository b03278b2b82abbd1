"""The report of `classify`: a Markdown table, a JSON file and a plot of accuracy against
the number of labels, one line per method."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgan.experiments.classify.splits import in_order
from dcgan.io import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from dcgan.experiments.classify.pipeline import ClassifyResult

METHOD_NAMES = {
    "dcgan": "DCGAN D features + L2-SVM",
    "pixels": "raw pixels + L2-SVM",
    "random-d": "random D features + L2-SVM",
    "cnn": "supervised CNN (D's architecture)",
    "kmeans": "K-means features (Coates et al. 2011) + L2-SVM",
}

BN_CAPTIONS = {
    "running": "BatchNorm running statistics of GAN training",
    "batch": "BatchNorm statistics of each batch",
    "inferred": "BatchNorm statistics inferred over {n} training images",
}


def table(result: ClassifyResult) -> str:
    """Test accuracy, mean +- std over the draws, and the error, in percent."""
    counts = in_order(result.config.labels_per_class)
    head = "| method | " + " | ".join(f"{n} labels/class" if n else "all labels" for n in counts)
    head += " |"
    lines = [head, "|---" * (len(counts) + 1) + "|"]
    for method, by_count in result.results.items():
        cells = []
        for n in counts:
            r = by_count[n]
            cells.append(f"{100 * r.mean:.2f} ± {100 * r.std:.2f} (err {100 - 100 * r.mean:.2f})")
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def caption(result: ClassifyResult) -> str:
    c = result.config
    return (
        f"Test accuracy % (mean ± std over {c.repeats} draws; error %) on {result.test_size}"
        f" test images; D of {c.checkpoint} (step {result.checkpoint_step}),"
        f" {result.feature_dim}-d features ({'' if c.standardize else 'not '}standardised),"
        f" {BN_CAPTIONS[c.bn].format(n=c.bn_images)};"
        " C of the SVM chosen"
        + (
            f" on {result.val_size} validation images"
            if result.val_size
            else " by cross-validation"
        )
        + (
            f"; each labelled example also moved 1..{c.shift} px along each axis"
            f" ({4 * c.shift} copies, every method)"
            if c.shift
            else ""
        )
        + (f"; CNN: {c.cnn_trials} random-search trials of {c.cnn_steps} steps" if c.cnn else "")
        + "."
    )


def to_dict(result: ClassifyResult) -> dict[str, Any]:
    methods = {
        method: {
            "name": METHOD_NAMES[method],
            "by_labels_per_class": {
                str(n): {
                    "accuracy_mean": r.mean,
                    "accuracy_std": r.std,
                    "error_mean": 1 - r.mean,
                    "accuracies": r.accuracies,
                    "chosen": r.chosen,
                    "seconds": round(r.seconds, 1),
                }
                for n, r in by_count.items()
            },
        }
        for method, by_count in result.results.items()
    }
    return {
        "config": dataclasses.asdict(result.config),
        "checkpoint_step": result.checkpoint_step,
        "feature_dim": result.feature_dim,
        "test_size": result.test_size,
        "val_size": result.val_size,
        "methods": methods,
        "cnn_search": {str(n): s for n, s in result.cnn_search.items()},
        "notes": result.notes,
        "seconds": round(result.seconds, 1),
    }


def plot(result: ClassifyResult, path: str | Path) -> Path:
    """Accuracy against labels per class (log scale), error bars of one std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = in_order(result.config.labels_per_class)
    # "all labels" (0) has no place on a log axis: then the counts are evenly spaced
    xs = counts if 0 not in counts else list(range(len(counts)))
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for method, by_count in result.results.items():
        means = [100 * by_count[n].mean for n in counts]
        stds = [100 * by_count[n].std for n in counts]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=METHOD_NAMES[method])
    ax.set(xlabel="labelled examples per class", ylabel="test accuracy (%)")
    if 0 not in counts:
        ax.set_xscale("log")
    ax.set_xticks(xs, [str(n) if n else "all" for n in counts])
    ax.grid(alpha=0.3)
    ax.legend()
    out = atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out


def write_classify_report(result: ClassifyResult, out: str | Path) -> dict[str, Path]:
    """table.md, results.json and accuracy.png in `out`."""
    out = Path(out)
    return {
        "table": atomic_write_text(out / "table.md", caption(result) + "\n\n" + table(result)),
        "json": atomic_write_text(
            out / "results.json", json.dumps(to_dict(result), indent=2) + "\n"
        ),
        "plot": plot(result, out / "accuracy.png"),
    }
