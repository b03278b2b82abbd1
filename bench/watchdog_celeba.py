"""The watchdog on a third dataset, wholly held out: CelebA at 32 px.

Runs of the CIFAR-10 part's recipes (bench/watchdog_cifar.py: the paper's, `hot` and
`strong-d`; G and D 16 wide, batch 64, 1,500 steps, the default probe every 100 steps, a
checkpoint at each, alarms only warned) train on CelebA faces. No CelebA run took part in
choosing any threshold or rule of the watchdog: every run here is held out (seeds 400 on).

Data (as bench/augment_celeba.py): the 5,999 aligned faces of the shared tar, centre-cropped
and resized to 32 px. The runs train on the 5,340 faces outside CelebA's official test
partition; the judge compares against the 659 faces inside it, which no run trains on.

The judge is KID (dcgan.metrics.fidelity: 100 subsets, cubic kernel) between 500 samples of
each checkpoint and the 659 test faces, in the features of bench/augment_celeba.py's seeded
identity CNN (its own function on the same pool at 32 px; the weights' digest is recorded
and compared with bench/results/augment_celeba_steps600_all.json's, so it is the same judge).
Its rule is the CIFAR-10 part's, fixed before these runs were trained:

    a run has failed at checkpoint s >= 500 when KID(s) and KID at the next checkpoint (or s
    is the last) are both above 2 x the run's best KID so far, or above 2 x the median KID
    of the paper-recipe runs at that step; its onset is the first such s.

CelebA has no development runs, so "the paper-recipe runs" are this part's own (the CIFAR
part takes its development seeds): the median is of judge scores only, nothing of the
watchdog's. The second clause is the "never reached the level of a healthy run" case.

    python bench/watchdog_celeba.py --seeds 400,401,402,403   # 12 runs, 1-4 min each
    python bench/watchdog_celeba.py --report        # the tables from the cached runs

--report also prints the held-out table of all three datasets (MNIST and CIFAR-10 read from
bench/results/watchdog.json and watchdog_cifar.json).

Records are cached under .cache/dcgan/watchdog/celeba (one file per run: a run already there
is not trained again, and parallel invocations on other seeds do not clash); the table goes
to bench/results/watchdog_celeba.json.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from augment_celeba import FIRST_TEST, IDENTITIES, TAR, digest, read_faces, save_npz
from harness import parse_args, results_path, write_results
from watchdog_cifar import KINDS, LAG_FROM, RISE, N, onset, part_of
from watchdog_cifar import labelled as cifar_labelled
from watchdog_corpus import EVERY, ROOT_RUNS, corpus_config, table, train_and_judge

from dcgan.conventions import quantize
from dcgan.metrics.extractors import ClassifierExtractor
from dcgan.metrics.fidelity import Reference, kid
from dcgan.metrics.train_extractor import train_extractor
from dcgan.options import opt
from dcgan.sampling import load, sample
from dcgan.watchdog import THRESHOLDS, replay

SIZE = 32
RUNS = ROOT_RUNS / "celeba"
AUGMENT_RESULTS = results_path("augment_celeba_steps600_all")  # its extractor: 32 px, seeded


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    seeds: str = opt("400,401,402,403", "comma list of seeds")
    kinds: str = opt("paper,hot,strong-d", "comma list of recipes (bench/watchdog_cifar.py)")
    steps: int = opt(1500, "steps per run")
    report: bool = opt(False, "train nothing: the table from the cached runs")


def prepare() -> tuple[Path, ClassifierExtractor, Reference, dict]:
    """The training faces (npz), the judge's extractor, the test faces' reference, and the
    extractor's info; all cached under RUNS."""
    RUNS.mkdir(parents=True, exist_ok=True)
    data, extractor_path = RUNS / "celeba_pool32.npz", RUNS / "celeba_identity_cnn.pt"
    held_path, info_path = RUNS / "celeba_test32.npz", RUNS / "extractor.json"
    if not (data.exists() and held_path.exists() and info_path.exists()):
        images, numbers, identities = read_faces(SIZE)
        held = numbers >= FIRST_TEST
        # bench/augment_celeba.py's pool order (a fixed shuffle, seed 0): the same extractor.
        pool = np.flatnonzero(~held)
        pool = pool[np.random.default_rng(0).permutation(len(pool))]
        labelled = save_npz(RUNS / "pool_labelled.npz", images[pool], identities[pool])
        info = train_extractor(labelled, extractor_path, epochs=5, cache=str(RUNS / "cache"))
        save_npz(held_path, images[held])
        save_npz(data, images[pool])  # written last: its presence means all is ready
        info = {k: v for k, v in info.items() if k != "path"}
        info["sha256"] = digest(ClassifierExtractor(extractor_path).net)
        info_path.write_text(json.dumps(info) + "\n")
    info = json.loads(info_path.read_text())
    if AUGMENT_RESULTS.exists():
        theirs = json.loads(AUGMENT_RESULTS.read_text())["extractor"].get("sha256")
        info["same_as_augment_celeba"] = theirs == info["sha256"]
    extractor = ClassifierExtractor(extractor_path)
    with np.load(held_path) as f:
        held_u8 = torch.from_numpy(f["x_train"]).permute(0, 3, 1, 2).contiguous()
    return data, extractor, Reference.of(extractor(held_u8)), info


def judge_of(extractor: ClassifierExtractor, held: Reference):
    def judge(run_dir: Path) -> list[dict]:
        out = []
        for ckpt in sorted(run_dir.glob("ckpt-*.pt"), key=lambda p: int(p.stem.split("-")[1])):
            fake = quantize(sample(load(ckpt, ema=False), range(N)))
            k = kid(extractor(fake), held)["kid_mean"]
            out.append({"step": int(ckpt.stem.split("-")[1]), "KID": round(k, 4)})
        return out

    return judge


def labelled(records: list[dict]) -> list[dict]:
    """The records with the judge's onset, against the paper-recipe runs' median KID."""
    by_step: dict[int, list[float]] = {}
    for r in records:
        if r["kind"] == "paper":
            for row in r["judged"]:
                by_step.setdefault(row["step"], []).append(row["KID"])
    reference = {step: statistics.median(v) for step, v in by_step.items()}
    return [{**r, "onset": onset(r["judged"], reference)} for r in records]


def kids(record: dict) -> str:
    return " ".join(f"{row['KID']:.2f}" for row in record["judged"])


def cached_records(steps: int) -> list[dict]:
    records = [json.loads(p.read_text()) for p in sorted(RUNS.glob(f"*-{steps}.json"))]
    return sorted(records, key=lambda r: (list(KINDS).index(r["kind"]), r["seed"]))


def all_held_out(celeba: list[dict]) -> dict:
    """The held-out table of all three datasets: bench/watchdog.py's MNIST records and
    bench/watchdog_cifar.py's held-out ones (from their results files), and these."""
    mnist = json.loads(results_path("watchdog").read_text())["heldout_records"]
    cifar = json.loads(results_path("watchdog_cifar").read_text())["records"]
    cifar = [r for r in cifar_labelled(cifar) if part_of(r) == "heldout"]
    parts = {"mnist": mnist, "cifar10": cifar, "celeba": celeba}
    rows = [{**r, "kind": f"{name} {r['kind']}"} for name, rs in parts.items() for r in rs]
    return table("all held out: MNIST, CIFAR-10, CelebA 32 px", rows, THRESHOLDS)


def main() -> None:
    args = parse_args(Args, __doc__)
    if not TAR.is_file() or not IDENTITIES.is_file():
        sys.exit(f"bench/watchdog_celeba.py: {TAR} or {IDENTITIES} is absent")
    torch.set_num_threads(1)
    data, extractor, held, info = prepare()
    print(f"judge: identity CNN, held-out accuracy {info['accuracy']:.3f}, the same as "
          f"bench/augment_celeba.py's: {info.get('same_as_augment_celeba')}")  # fmt: skip
    if not args.report:
        seeds = [int(s) for s in args.seeds.split(",")]
        for seed, kind in itertools.product(seeds, args.kinds.split(",")):
            config = corpus_config(
                KINDS[kind], str(data), 3, seed, args.steps, RUNS / "runs", on_alarm="warn"
            )
            name = f"{kind}-{seed}-{args.steps}.json"
            r = train_and_judge(
                config, RUNS / name, judge_of(extractor, held), kind=kind, seed=seed
            )
            print(f"{kind} seed {seed}: final KID {r['judged'][-1]['KID']:.4f}, alarms "
                  f"{[a['name'] for a in r['alarms']]} ({r['seconds']} s)", flush=True)  # fmt: skip
    records = labelled(cached_records(args.steps))
    for r in records:
        first = next(iter(replay(r["health"])), None)
        print(f"{r['kind']:>8} {r['seed']}: onset {r['onset']}, first alarm "
              f"{first and (first.name, first.step)}, KID "
              f"{kids(r)}")  # fmt: skip
    scored = table("CelebA 32 px, held out (thresholds in dcgan/watchdog.py)", records, THRESHOLDS)
    equal = sum([a["name"] for a in r["alarms"]] == [a.name for a in replay(r["health"])]
                for r in records)  # fmt: skip
    rule = {"rise": RISE, "lag_from": LAG_FROM, "n": N, "every": EVERY, "reference": "paper runs"}
    everything = all_held_out(records)
    result = {"judge_rule": rule, "extractor": info,
              "score": {"heldout": scored, "all_held_out": everything},
              "records": records,
              "training_alarms_equal_replay": {"runs": len(records), "equal": equal}}  # fmt: skip
    print(f"\nwrote {write_results('watchdog_celeba', result, indent=None)}")


if __name__ == "__main__":
    main()
