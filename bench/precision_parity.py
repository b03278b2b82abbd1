"""Quality parity of bf16 training against fp32 on the CPU: MNIST and CIFAR-10 at 32 px.

Each seed trains twice from the same initial weights on the same batches, once in fp32 and
once under bf16 autocast (`--precision`), for the same number of steps, interleaved (the
order alternates with the seed). Short runs that fit a 2-core CPU: G and D 32 wide, batch
64, EMA 0.999, `--steps` steps (1,000 = 1.07 epochs of MNIST, 3.2 of the 20,000 CIFAR-10
images). The judges are the project's:

- MNIST: the MNIST classifier (bench/mnist_quality.py's judge) labels 1,000 samples of the
  EMA generator: the share of confident samples (max softmax >= 0.9), the smallest and
  largest class shares; and KID in that classifier's features (`dcgan evaluate --extractor
  mnist`), 1,000 samples against 1,000 real images.
- CIFAR-10: KID in the features of a small classifier trained on CIFAR-10's labels
  (`dcgan evaluate --train-extractor`, the judge of bench/watchdog_cifar.py), 1,000 samples
  against 1,000 real images.

Two rules, on the development seeds (`--dev-seeds`); held-out seeds (`--heldout-seeds`) take
no part in choosing either and are reported apart:

- two-sided (fixed before any run): for every metric, |mean(bf16) - mean(fp32)| <= the std
  of fp32 over the seeds (the seed spread);
- one-sided (chosen after the MNIST development runs, where bf16's largest class share was
  lower, i.e. better, than fp32's by more than the spread; before the CIFAR-10 and held-out
  runs): for every metric, bf16 is not worse than fp32 by more than fp32's seed std.

A third check, chosen after the held-out seeds 10 and 11 had failed the one-sided rule and
before seeds 20-23 ran, and reported beside the rules, never instead of them: a paired
non-inferiority test over every seed run so far (`--pool` adds the runs of earlier results
files). Per metric, w = bf16 - fp32 of the same seed, signed so that w > 0 is bf16 worse;
bf16 passes if the one-sided 95 % upper bound of mean(w) (Student t) is at most fp32's seed
std over the same seeds. It uses every seed's pairing, which the rules' means ignore.

The deciding test, written here before its runs: fresh MNIST seeds 30-41 (12 pairs, no
earlier run pooled), the paired check above on those seeds alone, margin fp32's std over
them. The nine-seed check passed everything but two MNIST measures (the confident share, the
smallest class), so MNIST is where the doubt lies. If every MNIST metric passes, `auto`
turns bf16 on for CPUs with native bf16; if any fails, CPUs stay in fp32 and this question
is closed for this model size. Either way no further seeds are added to it:

    python bench/precision_parity.py --datasets mnist --dev-seeds "" \
        --heldout-seeds 30,31,32,33,34,35,36,37,38,39,40,41 --name precision_parity_fresh

    python bench/precision_parity.py [--datasets mnist,cifar] [--dev-seeds 0,1,2]
        [--heldout-seeds 10,11] [--steps 1000] [--pool precision_parity] [--name NAME]

Each run's record is cached under .cache/dcgan/precision_parity, so a later call (e.g. with
held-out seeds added) trains only what is missing; the table goes to
bench/results/precision_parity.json.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    CACHE,
    SHARED,
    cpu_model,
    parse_args,
    print_table,
    results_path,
    write_results,
)
from scipy.stats import t as t_dist

from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.io import atomic_write_text
from dcgan.metrics.evaluate import evaluate
from dcgan.metrics.mnist_classifier import classify_samples, load_mnist_classifier
from dcgan.metrics.train_extractor import train_extractor
from dcgan.options import opt

RUNS = CACHE / "precision_parity"
CIFAR_JUDGE = CACHE / "watchdog" / "cifar" / "cifar_classifier.pt"  # shared with watchdog_cifar
DATA = {"mnist": ("mnist.npz", 1), "cifar": ("cifar10_train20k.npz", 3)}
# metric -> whether higher is better (for the one-sided rule)
METRICS = {
    "mnist": {"KID": False, "frac_confident": True, "min_class": True, "max_class": False},
    "cifar": {"KID": False},
}
PRECISIONS = ("fp32", "bf16")


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    datasets: str = opt("mnist,cifar", "comma-separated: mnist, cifar")
    dev_seeds: str = opt("0,1,2", "seeds the parity rule is decided on")
    heldout_seeds: str = opt("", "seeds that only confirm (empty: none)")
    steps: int = opt(1000, "training steps of every run")
    width: int = opt(32, "ngf = ndf")
    batch_size: int = opt(64)
    n: int = opt(1000, "samples judged (and real images for KID)")
    pool: str = opt("", "comma-separated earlier results names whose runs join the paired test")
    name: str = opt("precision_parity", "results JSON name")


def seeds_of(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def names_of(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def judge(dataset: str, run_dir: Path, n: int) -> dict:
    """The dataset's judge on a finished run (the EMA generator, BN in batch mode)."""
    extractor = "mnist" if dataset == "mnist" else str(CIFAR_JUDGE)
    kid = evaluate(run_dir, metrics="kid", n=n, extractor=extractor, cache=str(CACHE))
    out = {"KID": kid["metrics"]["kid_mean"]}
    if dataset == "mnist":
        r = classify_samples(sample(load(run_dir), n=n), load_mnist_classifier())
        out |= {
            "frac_confident": r["frac_confident"],
            "min_class": r["min_class_fraction"],
            "max_class": r["max_class_fraction"],
        }
    return out


def run_one(dataset: str, precision: str, seed: int, args: Args) -> dict:
    """Train and judge one run, or read its cached record."""
    key = f"{dataset}-{precision}-s{seed}-{args.steps}st-w{args.width}-b{args.batch_size}"
    record = RUNS / f"{key}.json"
    if record.exists():
        return json.loads(record.read_text())
    file, channels = DATA[dataset]
    config = TrainConfig(
        data=str(SHARED / file),
        out=str(RUNS / "runs"),
        model=ModelConfig(size=32, channels=channels, ngf=args.width, ndf=args.width),
        batch_size=args.batch_size,
        steps=args.steps,
        seed=seed,
        ema=0.999,
        precision=precision,
        sample_every=10**6,
        checkpoint_every=args.steps,
        keep=1,
        progress=False,
        cache=str(CACHE),
    )
    t0 = time.monotonic()
    result = train(config)
    seconds = time.monotonic() - t0
    out = {
        "dataset": dataset,
        "precision": precision,
        "seed": seed,
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        **judge(dataset, result.run_dir, args.n),
    }
    atomic_write_text(record, json.dumps(out))  # one run's cache record, not a result
    print(f"{key}: {out}", flush=True)
    return out


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarize(records: list[dict], dataset: str, seeds: list[int]) -> dict:
    """Per metric: mean and std over `seeds` of each precision, the paired differences
    (bf16 - fp32, same seed) and whether the rule holds."""
    out = {}
    if not seeds:
        return out
    for metric, higher in METRICS[dataset].items():
        by = {
            p: [
                r[metric]
                for r in records
                if r["dataset"] == dataset and r["precision"] == p and r["seed"] in seeds
            ]
            for p in PRECISIONS
        }
        if any(len(v) != len(seeds) for v in by.values()):
            continue
        (m32, s32), (m16, s16) = mean_std(by["fp32"]), mean_std(by["bf16"])
        diffs = [b - a for a, b in zip(by["fp32"], by["bf16"], strict=True)]
        out[metric] = {
            "fp32": by["fp32"],
            "bf16": by["bf16"],
            "fp32_mean": m32,
            "fp32_std": s32,
            "bf16_mean": m16,
            "bf16_std": s16,
            "paired_diff_mean": statistics.fmean(diffs),
            "paired_diff_std": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
            "within_fp32_spread": abs(m16 - m32) <= s32,
            "not_worse_than_spread": (m32 - m16 if higher else m16 - m32) <= s32,
        }
    return out


def paired_test(records: list[dict], dataset: str) -> dict:
    """The paired non-inferiority check (after the fact, module docstring) over every seed
    with both precisions in `records`."""
    runs = {(r["precision"], r["seed"]): r for r in records if r["dataset"] == dataset}
    seeds = sorted(s for p, s in runs if p == "fp32" and ("bf16", s) in runs)
    out = {}
    for metric, higher in METRICS[dataset].items():
        fp32 = [runs["fp32", s][metric] for s in seeds]
        w = [
            (-1 if higher else 1) * (runs["bf16", s][metric] - runs["fp32", s][metric])
            for s in seeds
        ]
        mean, sd = mean_std(w)
        upper = mean + float(t_dist.ppf(0.95, len(w) - 1)) * sd / math.sqrt(len(w))
        margin = mean_std(fp32)[1]
        out[metric] = {
            "seeds": seeds,
            "bf16_worse_by_mean": mean,
            "upper_95": upper,
            "margin_fp32_std": margin,
            "passes": bool(upper <= margin),
        }
    return out


def main() -> None:
    args = parse_args(Args, __doc__)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    bad = [d for d in datasets if d not in DATA]
    if bad:
        raise SystemExit(f"unknown dataset {bad[0]!r}: use mnist or cifar")
    dev, held = seeds_of(args.dev_seeds), seeds_of(args.heldout_seeds)
    if "cifar" in datasets and not CIFAR_JUDGE.exists():
        CIFAR_JUDGE.parent.mkdir(parents=True, exist_ok=True)
        info = train_extractor(SHARED / DATA["cifar"][0], CIFAR_JUDGE, epochs=5, cache=str(CACHE))
        print(f"judge: CIFAR-10 classifier, held-out accuracy {info['accuracy']:.3f}")
    records = []
    for seed in dev + held:  # interleaved: both precisions of a seed, order alternating
        for dataset in datasets:
            order = PRECISIONS if seed % 2 == 0 else PRECISIONS[::-1]
            records += [run_one(dataset, p, seed, args) for p in order]
    pooled = list(records)  # the paired test also sees the runs of earlier results files
    for name in names_of(args.pool):
        have = {(r["dataset"], r["precision"], r["seed"]) for r in pooled}
        if not results_path(name).is_file():
            raise SystemExit(f"--pool {name}: no results file {results_path(name)}")
        earlier = json.loads(results_path(name).read_text())["runs"]
        pooled += [r for r in earlier if (r["dataset"], r["precision"], r["seed"]) not in have]
    result = {
        "config": {
            "size": 32,
            "width": args.width,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "ema": 0.999,
            "n_judged": args.n,
            "rule_two_sided": "|mean(bf16) - mean(fp32)| <= std(fp32), every metric",
            "rule_one_sided": "bf16 not worse than mean(fp32) by more than std(fp32), every metric",
        },
        "cpu": cpu_model(),
        "dev_seeds": dev,
        "heldout_seeds": held,
        "runs": records,
        "dev": {d: summarize(records, d, dev) for d in datasets},
        "heldout": {d: summarize(records, d, held) for d in datasets} if held else {},
        "pooled_from": names_of(args.pool),
        "paired_after_the_fact": {d: paired_test(pooled, d) for d in datasets},
    }
    for group in ("dev", "heldout"):
        for rule in ("within_fp32_spread", "not_worse_than_spread"):
            ms = [m for d in result[group].values() for m in d.values()]
            result[f"{group}_{rule}"] = all(m[rule] for m in ms) if ms else None
    rows = []
    for group in ("dev", "heldout"):
        for dataset, metrics in result[group].items():
            for metric, m in metrics.items():
                rows.append(
                    [
                        group,
                        dataset,
                        metric,
                        f"{m['fp32_mean']:.4f} ± {m['fp32_std']:.4f}",
                        f"{m['bf16_mean']:.4f} ± {m['bf16_std']:.4f}",
                        f"{m['paired_diff_mean']:+.4f}",
                        m["within_fp32_spread"],
                        m["not_worse_than_spread"],
                    ]
                )
    print_table(
        ["seeds", "data", "metric", "fp32", "bf16", "bf16-fp32", "within", "not worse"], rows
    )
    for group in ("dev", "heldout"):
        print(
            f"{group} seeds: within fp32's spread {result[f'{group}_within_fp32_spread']}, "
            f"not worse than it {result[f'{group}_not_worse_than_spread']}"
        )
    for dataset, metrics in result["paired_after_the_fact"].items():
        for metric, m in metrics.items():
            print(
                f"paired (after the fact), {dataset} {metric}, seeds {m['seeds']}: bf16 worse "
                f"by {m['bf16_worse_by_mean']:+.4f}, 95 % upper bound {m['upper_95']:+.4f}, "
                f"margin {m['margin_fp32_std']:.4f}: {'passes' if m['passes'] else 'fails'}"
            )
    print(f"written {write_results(args.name, result)}")


if __name__ == "__main__":
    main()
