"""The watchdog on a dataset that took no part in choosing its thresholds: CIFAR-10 at 32 px.

The thresholds in dcgan/watchdog.py were chosen on MNIST runs only (bench/watchdog.py). Here
runs of the paper's recipe and of two recipes that failed there (same widths, batch and
steps as the MNIST corpus, RGB) train on the 20,000 CIFAR-10 images of the shared data, with
the default probe and alarms only warned.

The judge is KID between 500 samples and 500 real images in the features of a small
classifier trained on CIFAR-10's labels (`dcgan evaluate --train-extractor`; the MNIST judge
cannot read CIFAR), at every checkpoint (100 steps). Its rule, fixed before these runs:

    a run has failed at checkpoint s >= LAG_FROM when KID(s) and KID at the next checkpoint
    are both above RISE x the run's best KID so far, or above RISE x the median KID of this
    bench's paper-recipe runs at that step; its onset is the first such s.

    python bench/watchdog_cifar.py [--seeds 4]

Records are cached under .cache/dcgan/watchdog/cifar; the table goes to
bench/results/watchdog_cifar.json.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import CACHE, SHARED, parse_args, print_table, write_results
from watchdog_corpus import EVERY, ROOT_RUNS, corpus_config, score, train_and_judge

from dcgan.metrics.evaluate import evaluate
from dcgan.metrics.train_extractor import train_extractor
from dcgan.options import opt
from dcgan.watchdog import THRESHOLDS

RISE, LAG_FROM, N = 2.0, 500, 500
KINDS: dict[str, dict] = {
    "paper": {},
    "hot": {"lr": 5e-3, "beta1": 0.9},
    "strong-d": {"lr_d": 1e-3, "ngf": 8, "ndf": 32},
}
RUNS = ROOT_RUNS / "cifar"


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    seeds: int = opt(4, "seeds per recipe (200..200+N-1)")
    steps: int = opt(1500, "steps per run")
    data: str = opt(str(SHARED / "cifar10_train20k.npz"))


def judge_of(extractor: Path):
    def judge(run_dir: Path) -> list[dict]:
        out = []
        for ckpt in sorted(run_dir.glob("ckpt-*.pt"), key=lambda p: int(p.stem.split("-")[1])):
            r = evaluate(ckpt, metrics="kid", n=N, extractor=str(extractor), cache=str(CACHE))
            out.append({"step": int(ckpt.stem.split("-")[1]), "KID": r["metrics"]["kid_mean"]})
        return out

    return judge


def onset(judged: list[dict], reference: dict[int, float]) -> int | None:
    best, high = float("inf"), []
    for row in judged:
        rose = row["KID"] > RISE * best
        lags = row["KID"] > RISE * reference.get(row["step"], float("inf"))
        high.append(row["step"] >= LAG_FROM and (rose or lags))
        best = min(best, row["KID"])
    for i, row in enumerate(judged):
        if high[i] and (i + 1 == len(judged) or high[i + 1]):
            return row["step"]
    return None


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(2)
    extractor = RUNS / "cifar_classifier.pt"
    if not extractor.exists():
        RUNS.mkdir(parents=True, exist_ok=True)
        info = train_extractor(args.data, extractor, epochs=5, cache=str(CACHE))
        print(f"judge: CIFAR-10 classifier, held-out accuracy {info['accuracy']:.3f}")
    records = []
    for seed, kind in itertools.product(range(200, 200 + args.seeds), KINDS):
        config = corpus_config(
            KINDS[kind], args.data, 3, seed, args.steps, RUNS / "runs", on_alarm="warn"
        )
        name = f"{kind}-{seed}-{args.steps}.json"
        r = train_and_judge(config, RUNS / name, judge_of(extractor), kind=kind, seed=seed)
        print(f"{kind} seed {seed}: final KID {r['judged'][-1]['KID']:.4f}, alarms "
              f"{[a['name'] for a in r['alarms']]} ({r['seconds']} s)")  # fmt: skip
        records.append(r)
    by_step: dict[int, list[float]] = {}
    for r in records:
        if r["kind"] == "paper":
            for row in r["judged"]:
                by_step.setdefault(row["step"], []).append(row["KID"])
    reference = {step: statistics.median(v) for step, v in by_step.items()}
    records = [{**r, "onset": onset(r["judged"], reference)} for r in records]
    rows, by_kind = [], {}
    for kind in [*KINDS, "all"]:
        s = score([r for r in records if kind in (r["kind"], "all")], THRESHOLDS)
        by_kind[kind] = s
        delay = "-" if s["median_delay"] is None else s["median_delay"]
        rows.append([kind, s["failed_runs"], s["healthy_runs"], f"{s['detected']:.2f}",
                     f"{s['false_alarms']:.2f}", delay])  # fmt: skip
    print("\nCIFAR-10 32 px, held out (thresholds in dcgan/watchdog.py, chosen on MNIST)")
    print_table(["kind", "failed", "healthy", "detected", "false alarms", "median delay"], rows)
    rule = {"rise": RISE, "lag_from": LAG_FROM, "n": N, "every": EVERY, "steps": args.steps}
    result = {"judge_rule": rule, "reference_KID": reference, "score": by_kind}
    print(f"\nwrote {write_results('watchdog_cifar', {**result, 'records': records}, indent=None)}")


if __name__ == "__main__":
    main()
