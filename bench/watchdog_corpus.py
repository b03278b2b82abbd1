"""The watchdog's corpus, shared by bench/watchdog.py (MNIST) and bench/watchdog_cifar.py:
the recipes, one run's config, training a run and judging its checkpoints (cached), the
MNIST judge's score and rule, and how a set of thresholds does on judged runs. The judge's
rule is stated in bench/watchdog.py's docstring."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from harness import CACHE, print_table

import dcgan.training
from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.io import atomic_write_text
from dcgan.metrics.mnist_classifier import classify_samples
from dcgan.outcome import TrainingDiverged, TrainingStopped
from dcgan.plots import read_stats
from dcgan.training_watchdog import PAPER_LR, rollback_settings
from dcgan.watchdog import THRESHOLDS, Thresholds, Watchdog, replay

FALL, LEARNED, LAG_FROM = 0.5, 0.1, 500  # the judge's rule (see above)
JUDGE_N, JUDGE_SEED = 500, 7
EVERY = 100  # probes and checkpoints
# The recipes of the corpus: TrainConfig fields (ngf/ndf and `subset`, a training set cut to
# its first N images, apart). "healthy" is the paper's; the others often fail.
KINDS: dict[str, dict] = {
    "paper": {},
    "hot": {"lr": 5e-3, "beta1": 0.9},
    "strong-d": {"lr_d": 1e-3, "ngf": 8, "ndf": 32},
    "tiny-data": {"subset": 256},
    "hot-g": {"lr_g": 5e-3},
    "lr-2e-3": {"lr": 2e-3},
}
DEV_KINDS = ("paper", "hot", "strong-d", "tiny-data")
HELD_OUT_KINDS = ("hot-g", "lr-2e-3")  # never seen while choosing
ROOT_RUNS = CACHE / "watchdog"


def corpus_config(
    recipe: dict, data: str, channels: int, seed: int, steps: int, out: Path, on_alarm: str
) -> TrainConfig:
    """One corpus run at 32 px: G and D 16 wide unless the recipe says (ngf, ndf), batch 64,
    the default probe, a checkpoint at each probe, all of them kept."""
    fields = {k: v for k, v in recipe.items() if k not in ("ngf", "ndf", "subset")}
    model = ModelConfig(
        size=32, channels=channels, ngf=recipe.get("ngf", 16), ndf=recipe.get("ndf", 16)
    )
    return TrainConfig(
        data=data,
        out=str(out),
        model=model,
        batch_size=64,
        steps=steps,
        seed=seed,
        health_every=EVERY,
        on_alarm=on_alarm,
        checkpoint_every=EVERY,
        keep=10**6,
        sample_every=10**6,
        precision="fp32",  # the thresholds were chosen, and the corpus judged, in fp32
        progress=False,
        cache=str(CACHE),
        **fields,
    )


def data_for(kind: str, data: str, start: int = 0) -> str:
    """The training data of a kind: MNIST, or its `subset` images from `start` (the first)."""
    n = KINDS[kind].get("subset")
    if not n:
        return data
    name = f"mnist_first{n}" if start == 0 else f"mnist_{start}to{start + n}"
    path = ROOT_RUNS / f"{name}.npz"
    if not path.exists():
        with np.load(data) as f:
            x = f["x_train"][start : start + n]
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x_train=x)
    return str(path)


def judge_run(run_dir: Path, classifier) -> list[dict]:
    """The judge's score at every checkpoint of a run."""
    out = []
    for ckpt in sorted(run_dir.glob("ckpt-*.pt"), key=lambda p: int(p.stem.split("-")[1])):
        model = load(ckpt, ema=False)
        images = sample(model, seeds=range(JUDGE_SEED, JUDGE_SEED + JUDGE_N))
        r = classify_samples(images, classifier)
        shares = np.array(r["class_fractions"])
        entropy = float(-(shares[shares > 0] * np.log(shares[shares > 0])).sum() / math.log(10))
        out.append(
            {
                "step": int(ckpt.stem.split("-")[1]),
                "J": round(r["frac_confident"] * entropy, 4),
                "confident": round(r["frac_confident"], 4),
            }
        )
    return out


def onset(judged: list[dict], reference: dict[int, float]) -> int | None:
    """Where the judge says the run failed (None: it did not); `reference`: step -> the
    median J of the development runs of the paper's recipe."""
    best, low = 0.0, []
    for row in judged:
        fell = best >= LEARNED and row["J"] < FALL * best
        ref = reference.get(row["step"], 0.0)
        lags = row["step"] >= LAG_FROM and ref >= LEARNED and row["J"] < FALL * ref
        low.append(fell or lags)
        best = max(best, row["J"])
    for i, row in enumerate(judged):
        if low[i] and (i + 1 == len(judged) or low[i + 1]):
            return row["step"]
    return None


def reference_of(records: list[dict]) -> dict[int, float]:
    """Step -> the median J of the paper recipe's runs among `records`."""
    by_step: dict[int, list[float]] = {}
    for r in records:
        if r["kind"] == "paper":
            for row in r["judged"]:
                by_step.setdefault(row["step"], []).append(row["J"])
    return {step: statistics.median(js) for step, js in by_step.items()}


def label(records: list[dict], reference: dict[int, float]) -> list[dict]:
    return [{**r, "onset": onset(r["judged"], reference)} for r in records]


def compact(row: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def known_record(records: list[dict], steps: int, **key) -> dict | None:
    """The record among `records` (an earlier results file's) of the run `key` (its kind,
    seed, ...) of `steps` steps: a run this bench already trained and judged is not redone.
    Records written before `steps` was recorded are of 1,500 steps."""
    for r in records:
        if r.get("steps", 1500) == steps and all(r.get(k) == v for k, v in key.items()):
            return r
    return None


def train_and_judge(
    config: TrainConfig,
    record_path: Path,
    judge: Callable[[Path], list[dict]],
    known: dict | None = None,
    **fields,
) -> dict:
    """Train (or find cached, or `known` from a results file) one corpus run and judge its
    checkpoints: its record, with `fields` (its kind, seed, ...) and its steps."""
    if record_path.exists():
        return json.loads(record_path.read_text())
    if known is not None:
        record = {**known, "steps": config.steps}
        record_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record_path, json.dumps(record) + "\n")
        return record
    t0 = time.perf_counter()
    stopped, run_dir = None, None
    try:
        run_dir = train(config).run_dir
    except (TrainingDiverged, TrainingStopped) as e:
        stopped = str(e)
        run_dir = Path(e.result.run_dir) if hasattr(e, "result") else None
    if run_dir is None:  # diverged: the newest run under out
        run_dir = max(Path(config.out).glob("0*"), key=lambda p: p.stat().st_mtime)
    rows = read_stats(run_dir)
    record = {
        **fields,
        "steps": config.steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "stopped": stopped,
        "health": [compact(r) for r in rows if r.get("kind") == "health"],
        "alarms": [r for r in rows if r.get("kind") == "alarm"],
        "rollbacks": [r for r in rows if r.get("kind") == "rollback"],
        "judged": judge(run_dir),
    }
    atomic_write_text(record_path, json.dumps(record) + "\n")
    return record


def score(records: list[dict], t: Thresholds) -> dict:
    """Detection, false alarms and delay of thresholds `t` replayed on records; `in_time`:
    the failures caught no later than a tenth of their run after the judge's onset."""
    failed = [r for r in records if r["onset"] is not None]
    healthy = [r for r in records if r["onset"] is None]
    first = {id(r): next(iter(replay(r["health"], t)), None) for r in records}
    detected = [r for r in failed if first[id(r)] is not None]
    delays = [first[id(r)].step - r["onset"] for r in detected]
    late = [r for r in detected if first[id(r)].step - r["onset"] > r.get("steps", 1500) / 10]
    return {
        "failed_runs": len(failed),
        "healthy_runs": len(healthy),
        "detected": len(detected) / max(len(failed), 1),
        "in_time": (len(detected) - len(late)) / max(len(failed), 1),
        "false_alarms": sum(first[id(r)] is not None for r in healthy) / max(len(healthy), 1),
        "median_delay": statistics.median(delays) if delays else None,
        "first_alarms": {f"{r['kind']}-{r['seed']}": first[id(r)].name for r in detected},
        "false_alarm_runs": [
            f"{r['kind']}-{r['seed']}" for r in healthy if first[id(r)] is not None
        ],
    }


# Each bound from cautious to eager: among choices that do equally well on the development
# runs the first, most cautious, is kept (a bound that no development run tested stays
# cautious rather than eager by accident).
GRID = {
    "d_wins": (0.005, 0.01, 0.02, 0.05),
    "garbage_gap": (0.5, 0.25, 0.1),
    "diversity_drop": (0.3, 0.4, 0.5, 0.6, 0.7),
    "diversity_floor": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "near_copies": (0.5, 0.3, 0.2),
    "filters": (0.8, 0.6, 0.4),
    "patience": (1, 2, 3),
    "warmup": (200, 300, 500),  # steps
}
MAX_FALSE_ALARMS = 0.1


def search(records: list[dict]) -> tuple[Thresholds, dict]:
    """The thresholds with the most failures detected at <= MAX_FALSE_ALARMS false alarms on
    healthy runs; ties go to fewer false alarms, then to more failures caught in time (no
    later than a tenth of the run after the judge's onset), then to the more cautious rule
    (more probes in a row, a longer warm-up), then to the first in GRID's order: the choice
    least fitted to these few runs."""
    best, best_key = THRESHOLDS, None
    for values in itertools.product(*GRID.values()):
        t = Thresholds(**dict(zip(GRID, values, strict=True)))
        s = score(records, t)
        if s["false_alarms"] > MAX_FALSE_ALARMS:
            continue
        key = (s["detected"], -s["false_alarms"], s["in_time"], t.patience, t.warmup)
        if best_key is None or key > best_key:
            best, best_key = t, key
    return best, score(records, best)


def table(name: str, records: list[dict], t: Thresholds) -> dict:
    """Detection, false alarms and delay of `t` on `records`, by recipe and in all."""
    out, rows = {}, []
    for kind in [*sorted({r["kind"] for r in records}), "all"]:
        s = score([r for r in records if kind in (r["kind"], "all")], t)
        out[kind] = s
        delay = "-" if s["median_delay"] is None else s["median_delay"]
        rows.append(
            [kind, s["failed_runs"], s["healthy_runs"], f"{s['detected']:.2f}",
             f"{s['in_time']:.2f}", f"{s['false_alarms']:.2f}", delay]
        )  # fmt: skip
    print(f"\n{name}")
    header = ["kind", "failed", "healthy", "detected", "in time", "false alarms", "median delay"]
    print_table(header, rows)
    return {"by_kind": out, "all": out["all"]}


def d_quarter(c: TrainConfig, alarm: str) -> dict[str, float]:
    """Both rates capped at the paper's, then D's cut to a quarter of it: D, which wins in
    most failures, is slowed hard whatever the alarm; beta1 capped, seed + 1."""
    lr_g, lr_d = c.rates()
    c.lr_g, c.lr_d = min(lr_g, PAPER_LR), min(lr_d, PAPER_LR) / 4
    c.beta1, c.seed = min(c.beta1, 0.5), (c.seed + 1) % 2**32
    return {"lr_g": c.lr_g, "lr_d": c.lr_d, "beta1": c.beta1, "seed": c.seed}


def slow_both(c: TrainConfig, alarm: str) -> dict[str, float]:
    """Both rates capped at the paper's, then halved; beta1 capped, seed + 1."""
    lr_g, lr_d = c.rates()
    c.lr_g, c.lr_d = min(lr_g, PAPER_LR) / 2, min(lr_d, PAPER_LR) / 2
    c.beta1, c.seed = min(c.beta1, 0.5), (c.seed + 1) % 2**32
    return {"lr_g": c.lr_g, "lr_d": c.lr_d, "beta1": c.beta1, "seed": c.seed}


# The rollback rules compared; "shipped" is dcgan.training_watchdog.rollback_settings.
RULES = {"shipped": rollback_settings, "d-quarter": d_quarter, "slow-both": slow_both}
# How a rule is chosen on development failures (stated before they ran): the most runs whose
# final J is at least the warned run's + RESCUE; ties to the higher mean final J.
RESCUE = 0.05


@contextlib.contextmanager
def rollback_rule(name: str):
    """Training's rollback rule replaced by RULES[name] for the runs inside."""
    shipped = dcgan.training.rollback_settings
    dcgan.training.rollback_settings = RULES[name]
    try:
        yield
    finally:
        dcgan.training.rollback_settings = shipped


def healthy_before(health: list[dict]) -> bool:
    """Whether a probe before the first alarm was clear (healthy.pt was written)."""
    dog = Watchdog(every=1)
    for row in health:
        if dog.check(row):
            return False
        if dog.clear:
            return True
    return False
