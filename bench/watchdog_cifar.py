"""The watchdog on a second dataset: CIFAR-10 at 32 px.

Runs of the paper's recipe and of two recipes that failed on MNIST (same widths and batch as
the MNIST corpus, RGB) train on the 20,000 CIFAR-10 images of the shared data, with the
default probe and alarms only warned. Two parts:

    dev      seeds 200-201, 1,500 steps: the runs where G that never becomes varied was
             first seen; bench/watchdog.py's threshold search reads them with its MNIST
             development runs
    heldout  other seeds (202 on): no part in any choice

The judge is KID between 500 samples and 500 real images in the features of a small
classifier trained on CIFAR-10's labels (`dcgan evaluate --train-extractor`; the MNIST judge
cannot read CIFAR), at every checkpoint (100 steps). Its rule, fixed before these runs:

    a run has failed at checkpoint s >= LAG_FROM when KID(s) and KID at the next checkpoint
    are both above RISE x the run's best KID so far, or above RISE x the median KID of the
    development paper-recipe runs at that step; its onset is the first such s.

    python bench/watchdog_cifar.py --part dev --seeds 200,201
    python bench/watchdog_cifar.py --part heldout --seeds 202,203

Records are cached under .cache/dcgan/watchdog/cifar (and kept in the results: a run already
there is not trained again); the tables go to bench/results/watchdog_cifar.json.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from harness import CACHE, SHARED, parse_args, print_table, results_path, write_results
from watchdog_corpus import EVERY, ROOT_RUNS, corpus_config, known_record, score, train_and_judge

from dcgan.metrics.evaluate import evaluate
from dcgan.metrics.train_extractor import train_extractor
from dcgan.options import opt
from dcgan.watchdog import THRESHOLDS, replay

RISE, LAG_FROM, N = 2.0, 500, 500
KINDS: dict[str, dict] = {
    "paper": {},
    "hot": {"lr": 5e-3, "beta1": 0.9},
    "strong-d": {"lr_d": 1e-3, "ngf": 8, "ndf": 32},
}
DEV_SEEDS = (200, 201)
RUNS = ROOT_RUNS / "cifar"


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    part: Literal["dev", "heldout", "report"] = opt("heldout", "which part to run")
    seeds: str = opt("202,203", "comma list of seeds")
    kinds: str = opt("paper,hot,strong-d", "comma list of recipes")
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


def part_of(record: dict) -> str:
    return "dev" if record["seed"] in DEV_SEEDS else "heldout"


def labelled(records: list[dict]) -> list[dict]:
    """The records with the judge's onset, against the development paper runs' median."""
    by_step: dict[int, list[float]] = {}
    for r in records:
        if r["kind"] == "paper" and part_of(r) == "dev":
            for row in r["judged"]:
                by_step.setdefault(row["step"], []).append(row["KID"])
    reference = {step: statistics.median(v) for step, v in by_step.items()}
    return [{**r, "onset": onset(r["judged"], reference)} for r in records]


def tables(records: list[dict]) -> dict:
    out = {}
    for part in ("dev", "heldout"):
        rows, by_kind = [], {}
        mine = [r for r in records if part_of(r) == part]
        for kind in [*KINDS, "all"]:
            s = score([r for r in mine if kind in (r["kind"], "all")], THRESHOLDS)
            by_kind[kind] = s
            delay = "-" if s["median_delay"] is None else s["median_delay"]
            rows.append([kind, s["failed_runs"], s["healthy_runs"], f"{s['detected']:.2f}",
                         f"{s['false_alarms']:.2f}", delay])  # fmt: skip
        print(f"\nCIFAR-10 32 px, {part} (thresholds in dcgan/watchdog.py)")
        header = ["kind", "failed", "healthy", "detected", "false alarms", "median delay"]
        print_table(header, rows)
        out[part] = by_kind
    return out


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    path = results_path("watchdog_cifar")
    old = json.loads(path.read_text()).get("records", []) if path.exists() else []
    records = {(r["kind"], r["seed"]): r for r in old}  # a rerun replaces a run's record
    if args.part != "report":
        extractor = RUNS / "cifar_classifier.pt"
        if not extractor.exists():
            RUNS.mkdir(parents=True, exist_ok=True)
            info = train_extractor(args.data, extractor, epochs=5, cache=str(CACHE))
            print(f"judge: CIFAR-10 classifier, held-out accuracy {info['accuracy']:.3f}")
        seeds = [int(s) for s in args.seeds.split(",")]
        if any((seed in DEV_SEEDS) != (args.part == "dev") for seed in seeds):
            raise SystemExit(f"bench/watchdog_cifar.py: dev seeds are {DEV_SEEDS}, no others")
        for seed, kind in itertools.product(seeds, args.kinds.split(",")):
            config = corpus_config(
                KINDS[kind], args.data, 3, seed, args.steps, RUNS / "runs", on_alarm="warn"
            )
            name = f"{kind}-{seed}-{args.steps}.json"
            known = known_record(old, args.steps, kind=kind, seed=seed)
            r = train_and_judge(
                config, RUNS / name, judge_of(extractor), known, kind=kind, seed=seed
            )
            print(f"{kind} seed {seed}: final KID {r['judged'][-1]['KID']:.4f}, alarms "
                  f"{[a['name'] for a in r['alarms']]} ({r['seconds']} s)")  # fmt: skip
            records[(kind, seed)] = r
    records_list = labelled(list(records.values()))
    rule = {"rise": RISE, "lag_from": LAG_FROM, "n": N, "every": EVERY, "dev_seeds": DEV_SEEDS}
    # The held-out runs trained under the thresholds now in force: logged alarms vs replay.
    held = [r for r in records_list if part_of(r) == "heldout"]
    equal = sum([a["name"] for a in r["alarms"]] == [a.name for a in replay(r["health"])]
                for r in held)  # fmt: skip
    result = {"judge_rule": rule, "score": tables(records_list), "records": records_list,
              "training_alarms_equal_replay": {"runs": len(held), "equal": equal}}  # fmt: skip
    print(f"\nwrote {write_results('watchdog_cifar', result, indent=None)}")


if __name__ == "__main__":
    main()
