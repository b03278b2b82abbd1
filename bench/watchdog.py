"""The watchdog's thresholds from data, and how they do on runs that took no part in the choice.

A corpus of MNIST runs at 32 px (G and D 16 wide, batch 64, the default probe every 100
steps, alarms only warned): runs of the paper's recipe, and runs of recipes that often fail.
The MNIST classifier judges
each run's checkpoint every 100 steps on 500 samples. Its score is J = (share of confident
samples) x (entropy of the digit shares / log 10): 1 for varied, clean digits, 0 for noise or
a single mode. The judge's rule (fixed after a one-seed pilot of each recipe, before the
thresholds were searched):

    a run has failed at checkpoint s when J(s) and J at the next checkpoint both fall below
    FALL x the run's best J so far (once that best is >= LEARNED), or, from step LAG_FROM on
    and where that median has reached LEARNED, below FALL x the median J of the development
    runs of the paper's recipe at that step; its onset is the first such s.

The "where that median has reached LEARNED" was added after the first development pass,
which labelled two paper-recipe runs as failed at steps 500-600, where the median J is
0.005-0.03 and the rule measured noise.

So a run fails by the judge, not by its recipe: a paper-recipe run that collapses is a failure
and a "hot" run that stays fine is healthy.

    --phase dev      run the development corpus (its seeds, its kinds of failure), search the
                     thresholds there, with the CIFAR-10 development runs of
                     bench/watchdog_cifar.py, print the best; they are then written into
                     dcgan/watchdog.py by hand
    --phase heldout  run the held-out corpus (other seeds, and two recipes never seen in
                     development) with the thresholds now in dcgan/watchdog.py: detection,
                     false alarms, delay, and the warm-up's margin on healthy runs
    --phase rollback rerun the first --rollbacks failures of --part (dev or heldout) with
                     --on-alarm rollback under each rule of --rules, and compare the judge's
                     final score; on dev, the rule is chosen (RESCUE) and then written
                     into dcgan/training_watchdog.py by hand
    --phase late     one tiny-data run trained far past convergence (--late-steps): does a
                     late collapse come, and what do the alarms say
    --phase overhead the probe's cost against the training step, and the per-step extras
    --phase report   the tables again from the results, no training

Runs are cached under .cache/dcgan/watchdog and kept in the results (a run already there is
not trained again); the records and the tables go to bench/results/watchdog.json.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from harness import SHARED, command, parse_args, print_table, results_path, write_results
from watchdog_corpus import (
    DEV_KINDS,
    EVERY,
    FALL,
    JUDGE_N,
    KINDS,
    LAG_FROM,
    LEARNED,
    RESCUE,
    ROOT_RUNS,
    corpus_config,
    data_for,
    healthy_before,
    judge_run,
    known_record,
    label,
    reference_of,
    rollback_rule,
    search,
    table,
    train_and_judge,
)
from watchdog_overhead import phase_overhead

from dcgan.errors import DcganError
from dcgan.metrics.mnist_classifier import load_mnist_classifier
from dcgan.options import opt
from dcgan.watchdog import THRESHOLDS, Thresholds, replay


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    phase: Literal["dev", "heldout", "rollback", "late", "overhead", "report"] = opt(
        "dev", "what to run"
    )
    steps: int = opt(1500, "steps per run")
    dev_seeds: int = opt(5, "seeds per kind in development (0..N-1)")
    heldout_seeds: str = opt("100,101,102", "comma list of held-out seeds")
    kinds: str = opt(",".join(KINDS), "comma list of the held-out recipes to run")
    part: Literal["dev", "heldout"] = opt("dev", "whose failures --phase rollback reruns")
    rules: str = opt("shipped,d-quarter,slow-both", "comma list of rollback rules (RULES)")
    rollbacks: int = opt(3, "failures rerun with --on-alarm rollback")
    late_steps: int = opt(6000, "steps of the --phase late run")
    late_seed: int = opt(300, "seed of the --phase late run (300: the development run)")
    late_from: int = opt(0, "first of the 256 MNIST images of the --phase late run")
    data: str = opt(str(SHARED / "mnist.npz"))


def load_results() -> dict:
    path = results_path("watchdog")
    return json.loads(path.read_text()) if path.exists() else {}


def known_runs(results: dict) -> list[dict]:
    return [*results.get("dev_records", []), *results.get("heldout_records", [])]


def run_one(
    kind: str, seed: int, steps: int, args: Args, classifier, old: list[dict], rule: str = ""
) -> dict:
    """One MNIST corpus run, judged by the MNIST classifier; with `rule`, under
    --on-alarm rollback with that rollback rule."""
    on_alarm, folder = ("rollback", f"rollback-{rule}") if rule else ("warn", "warn")
    data = data_for(kind, args.data)
    config = corpus_config(KINDS[kind], data, 1, seed, steps, ROOT_RUNS / folder, on_alarm)
    with rollback_rule(rule or "shipped"):
        return train_and_judge(
            config,
            ROOT_RUNS / folder / f"{kind}-{seed}-{steps}.json",
            lambda run: judge_run(run, classifier),
            None if rule else known_record(old, steps, kind=kind, seed=seed),
            kind=kind,
            seed=seed,
            on_alarm=on_alarm,
            rule=rule or None,
            thresholds=asdict(THRESHOLDS),
        )


def corpus(kinds, seeds, args: Args, classifier, old: list[dict]) -> list[dict]:
    records = []
    for seed in seeds:  # seeds outer: a cut run is balanced
        for kind in kinds:
            r = run_one(kind, seed, args.steps, args, classifier, old)
            final = r["judged"][-1]["J"] if r["judged"] else 0.0
            alarms = [a["name"] for a in r["alarms"]]
            print(f"{kind} seed {seed}: final J {final:.3f}, alarms {alarms} ({r['seconds']} s)")
            records.append(r)
    return records


def cifar_records(part: str) -> list[dict]:
    """bench/watchdog_cifar.py's judged runs of `part` ("dev" or "heldout")."""
    import watchdog_cifar

    path = results_path("watchdog_cifar")
    records = json.loads(path.read_text())["records"] if path.exists() else []
    return [
        {**r, "kind": f"cifar-{r['kind']}"} for r in records if watchdog_cifar.part_of(r) == part
    ]


def warmup_margin(healthy: list[dict], t: Thresholds) -> dict:
    """How the diversity floor treats healthy runs' early training: the lowest diversity
    among them at each probe, and how many would raise the floor's alarm with each warm-up
    (in steps: 0 to 5 probes of the corpus)."""
    lowest = {}
    for r in healthy:
        for i, row in enumerate(r["health"][:8]):
            if row.get("diversity") is not None:
                lowest[i + 1] = min(lowest.get(i + 1, 9.9), row["diversity"])
    floor_only = Thresholds(d_wins=0, garbage_gap=9, diversity_drop=0, near_copies=9, filters=9)
    by_warmup = {}
    for w in range(0, 6 * EVERY, EVERY):
        rule = Thresholds(**{**asdict(floor_only), "diversity_floor": t.diversity_floor,
                             "patience": t.patience, "warmup": w})  # fmt: skip
        by_warmup[w] = sum(bool(replay(r["health"], rule)) for r in healthy)
    print(f"\nhealthy runs ({len(healthy)}): lowest diversity at probe 1-8, floor "
          f"{t.diversity_floor:g}")  # fmt: skip
    print_table(list(lowest), [[f"{v:.3f}" for v in lowest.values()]])
    print(f"floor alarms on them with a warm-up of 0-{5 * EVERY} steps: "
          f"{list(by_warmup.values())}")  # fmt: skip
    return {"lowest_diversity_by_probe": lowest, "floor_alarms_by_warmup_steps": by_warmup}


def phase_dev(args: Args, classifier, results: dict) -> dict:
    records = corpus(DEV_KINDS, range(args.dev_seeds), args, classifier, known_runs(results))
    reference = reference_of(records)
    records = label(records, reference)
    cifar = cifar_records("dev")
    chosen, _ = search(records + cifar)
    print(f"\nchosen on development runs: {chosen}")
    return {
        "reference_J": reference,
        "dev_records": records,
        "dev_chosen": asdict(chosen),
        "dev_score_chosen": table("development (chosen here)", records + cifar, chosen),
        "dev_score_without_floor": table(
            "development, the chosen bounds without the floor",
            records + cifar,
            replace(chosen, diversity_floor=0.0),
        ),
    }


def phase_heldout(args: Args, classifier, results: dict) -> dict:
    seeds = [int(s) for s in args.heldout_seeds.split(",")]
    reference = {int(k): v for k, v in results["reference_J"].items()}
    old = results.get("heldout_records", [])
    new = corpus(args.kinds.split(","), seeds, args, classifier, known_runs(results))
    merged = {(r["kind"], r["seed"]): r for r in [*old, *new]}
    records = label(sorted(merged.values(), key=lambda r: (r["seed"], r["kind"])), reference)
    # Runs trained under the thresholds now in force: their logged alarms against replay.
    fresh = [r for r in records if r.get("thresholds") == asdict(THRESHOLDS)]
    agree = sum(
        [a["name"] for a in r["alarms"]] == [a.name for a in replay(r["health"])] for r in fresh
    )
    healthy = [r for r in [*results["dev_records"], *records] if r["onset"] is None]
    cifar_healthy = [r for r in cifar_records("dev") + cifar_records("heldout") if not r["onset"]]
    return {
        "heldout_records": records,
        "thresholds": asdict(THRESHOLDS),
        "heldout_score": table("held out (thresholds in dcgan/watchdog.py)", records, THRESHOLDS),
        "heldout_score_cifar": table("CIFAR-10, held out", cifar_records("heldout"), THRESHOLDS),
        "training_alarms_equal_replay": {"runs": len(fresh), "equal": agree},
        "warmup": warmup_margin(healthy + cifar_healthy, THRESHOLDS),
    }


def phase_rollback(args: Args, classifier, results: dict) -> dict:
    """The first --rollbacks failures of --part that raise an alarm after a healthy probe (a
    run with none stops at its first alarm, whatever the rule), rerun under each rule."""
    records = results["dev_records" if args.part == "dev" else "heldout_records"]
    failed = [r for r in records if r["onset"] is not None and replay(r["health"])]
    failed.sort(key=lambda r: (r["seed"], r["kind"]))
    none = [f"{r['kind']}-{r['seed']}" for r in failed if not healthy_before(r["health"])]
    print(f"{len(failed)} failures raise an alarm; with no healthy probe before it: {none}")
    failed = [r for r in failed if healthy_before(r["health"])]
    pairs = []
    for r in failed[: args.rollbacks]:
        for rule in args.rules.split(","):
            rb = run_one(r["kind"], r["seed"], args.steps, args, classifier, [], rule)
            pairs.append(
                {
                    "kind": r["kind"],
                    "seed": r["seed"],
                    "rule": rule,
                    "warn_final_J": r["judged"][-1]["J"],
                    "pre_onset_best_J": max(
                        (j["J"] for j in r["judged"] if j["step"] < r["onset"]), default=0.0
                    ),
                    "rollback_final_J": rb["judged"][-1]["J"] if rb["judged"] else 0.0,
                    "rollbacks": len(rb["rollbacks"]),
                    "stopped": rb["stopped"],
                    "alarms": [a["name"] for a in rb["alarms"]],
                }
            )
    out = {f"rollback_{args.part}": pairs, f"rollback_{args.part}_no_healthy": none}
    by_rule = rollback_table(pairs)
    if args.part == "dev":
        best = max(by_rule, key=lambda k: (by_rule[k]["rescued"], by_rule[k]["mean_final_J"]))
        print(f"\nchosen on development failures: {best}")
        out["rollback_dev_chosen"] = best
    out[f"rollback_{args.part}_by_rule"] = by_rule
    return out


def rollback_table(pairs: list[dict]) -> dict:
    print("\nfailures rerun with --on-alarm rollback (the judge's J at the end)")
    rows = [
        [p["kind"], p["seed"], p["rule"], p["warn_final_J"], p["pre_onset_best_J"],
         p["rollback_final_J"], p["rollbacks"], p["stopped"] is not None]
        for p in pairs
    ]  # fmt: skip
    print_table(["kind", "seed", "rule", "warn J", "best J before onset", "rollback J",
                 "rollbacks", "stopped"], rows)  # fmt: skip
    by_rule = {}
    for rule in dict.fromkeys(p["rule"] for p in pairs):
        mine = [p for p in pairs if p["rule"] == rule]
        by_rule[rule] = {
            "runs": len(mine),
            "rescued": sum(p["rollback_final_J"] >= p["warn_final_J"] + RESCUE for p in mine),
            "at_or_above_pre_onset_best": sum(
                p["rollback_final_J"] >= p["pre_onset_best_J"] for p in mine
            ),
            "mean_final_J": statistics.mean(p["rollback_final_J"] for p in mine),
            "mean_warn_J": statistics.mean(p["warn_final_J"] for p in mine),
        }
    print_table(["rule", *next(iter(by_rule.values()))],
                [[k, *(f"{v:.3f}" if isinstance(v, float) else v for v in s.values())]
                 for k, s in by_rule.items()])  # fmt: skip
    return by_rule


def phase_late(args: Args, classifier, results: dict) -> dict:
    """A tiny-data run (256 images) trained --late-steps steps, far past where it learned.
    The first (seed 300, the first 256 images) is development data for the d-wins rule; the
    others (another seed and another 256 images) are held out, in "late_heldout"."""
    dev = (args.late_seed, args.late_from) == (300, 0)
    if dev:
        r = run_one("tiny-data", 300, args.late_steps, args, classifier, [])
    else:
        data = data_for("tiny-data", args.data, args.late_from)
        name = f"late-{args.late_seed}-from{args.late_from}-{args.late_steps}"
        out = ROOT_RUNS / "warn"
        config = corpus_config(KINDS["tiny-data"], data, 1, args.late_seed, args.late_steps,
                               out, "warn")  # fmt: skip
        r = train_and_judge(
            config,
            out / f"{name}.json",
            lambda run: judge_run(run, classifier),
            kind="tiny-data",
            seed=args.late_seed,
            images_from=args.late_from,
            on_alarm="warn",
            thresholds=asdict(THRESHOLDS),
        )
    reference = {int(k): v for k, v in results["reference_J"].items()}
    r = label([r], reference)[0]
    alarms = [(a.name, a.step, a.onset) for a in replay(r["health"])]
    js = [(j["step"], j["J"]) for j in r["judged"]]
    print(f"\nlate: judge onset {r['onset']}, alarms {alarms}")
    print("J every 500 steps:", [f"{s}:{j:.2f}" for s, j in js if s % 500 == 0])
    print("filters_collapsed every 500:",
          [f"{h['step']}:{h.get('filters_collapsed', 0):.2f}" for h in r["health"]
           if h["step"] % 500 == 0])  # fmt: skip
    if dev:
        return {"late": {**r, "replayed_alarms": alarms}}
    kept = [x for x in results.get("late_heldout", []) if x["seed"] != args.late_seed]
    return {"late_heldout": [*kept, {**r, "replayed_alarms": alarms}]}


def phase_report(args: Args, results: dict) -> dict:
    """The tables again from bench/results/watchdog.json, no training."""
    dev = results["dev_records"] + cifar_records("dev")
    # The search's choice, with the bounds it did not search (the d-wins exception) as shipped.
    chosen = Thresholds(**results["dev_chosen"])
    no_floor = replace(chosen, diversity_floor=0.0)
    out = {
        "dev_score_chosen": table("development (chosen here)", dev, chosen),
        "dev_score_without_floor": table("development, without the floor", dev, no_floor),
    }
    records = results["heldout_records"]
    cifar = cifar_records("heldout")
    out["heldout_score"] = table("held out (thresholds in dcgan/watchdog.py)", records, THRESHOLDS)
    out["heldout_score_cifar"] = table("CIFAR-10, held out", cifar, THRESHOLDS)
    healthy = [r for r in [*results["dev_records"], *records, *cifar_records("dev"), *cifar]
               if r["onset"] is None]  # fmt: skip
    out["warmup"] = warmup_margin(healthy, THRESHOLDS)
    for part in ("dev", "heldout"):
        if results.get(f"rollback_{part}"):
            rollback_table(results[f"rollback_{part}"])
    return out


def main() -> None:
    args = parse_args(Args, __doc__)
    if not Path(args.data).exists():
        raise SystemExit(f"no MNIST at {args.data}")
    torch.set_num_threads(1)
    results = load_results()
    try:
        if args.phase == "overhead":
            results.update(phase_overhead())
        elif args.phase == "report":
            results.update(phase_report(args, results))
        else:
            classifier = load_mnist_classifier()
            phases = {"dev": phase_dev, "heldout": phase_heldout, "rollback": phase_rollback}
            results.update({**phases, "late": phase_late}[args.phase](args, classifier, results))
    except DcganError as e:
        raise SystemExit(f"bench/watchdog.py: {e}") from None
    rule = {"fall": FALL, "learned": LEARNED, "lag_from": LAG_FROM, "n": JUDGE_N}
    results["judge_rule"] = {**rule, "every": EVERY, "steps": args.steps}
    results.pop("command", None)
    results.pop("machine", None)  # the machine of the last phase run
    results.pop("dev_score_defaults", None)  # an older layout's (now dev_score_without_floor)
    results.setdefault("commands", {})[args.phase] = command()
    results.pop("rollback", None)  # an older layout's rollback table (the rule it used is gone)
    print(f"\nwrote {write_results('watchdog', results, indent=None)}")


if __name__ == "__main__":
    main()
