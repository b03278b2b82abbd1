"""The training watchdog: alarms named by what went wrong, raised from the health signals
(dcgan.health) and D's running outputs, with the step where the trouble began.

The same rules run during training (`Watchdog`, fed step by step) and after it (`replay`,
fed the logged health rows, as `dcgan doctor` does), so both reach the same verdicts.
The thresholds were chosen on a development corpus of healthy and failed runs and checked
on held-out runs (bench/watchdog.py, docs/watchdog.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

ALARMS = ("diverged", "d-wins", "g-fools-with-garbage", "mode-collapse", "filter-collapse")

# What each alarm advises, after its one-line diagnosis.
ADVICE = {
    "diverged": "lower --lr, or roll back (--on-alarm rollback)",
    "d-wins": "D rejects every sample: lower --lr-d, or roll back (--on-alarm rollback)",
    "g-fools-with-garbage": "D scores samples above real images: lower --lr, or roll back",
    "mode-collapse": "G draws the same few images: roll back (--on-alarm rollback) or lower --lr",
    "filter-collapse": "G's filters stopped following z (paper §7): roll back or lower --lr",
}


@dataclass(frozen=True)
class Thresholds:
    """When a signal is out of bounds. `patience` probes in a row raise the alarm; no alarm
    is raised at a probe of the first `warmup` steps (early training swings widely), however
    often the probe runs. The defaults were chosen on 26 development runs (MNIST and
    CIFAR-10) and checked on held-out ones (docs/watchdog.md)."""

    d_wins: float = 0.05  # D(G(z)) (running mean) below this, with D(x) above 1 - it
    garbage_gap: float = 0.5  # D(G(z)) above D(x) by this (running means)
    # Sample diversity (in D's features, relative to real images) fallen below this share of
    # the run's best so far: a collapse is a fall, early training's low diversity is not.
    diversity_drop: float = 0.3
    diversity_floor: float = 0.4  # or below this after the warm-up (G never became varied)
    near_copies: float = 0.5  # share of samples with a near copy among the others
    filters: float = 0.8  # share of a G layer's channels that ignore z
    patience: int = 3
    warmup: int = 500  # steps


THRESHOLDS = Thresholds()


@dataclass
class Alarm:
    name: str
    step: int  # where it was raised
    onset: int  # the first probe of the streak that raised it
    signal: str
    value: float
    bound: str  # e.g. "< 0.35"

    def line(self) -> str:
        return (
            f"alarm {self.name} at step {self.step}: {self.signal} {self.value:.3g} {self.bound}"
            f" since step {self.onset}; {ADVICE[self.name]}"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Alarm:
        """An alarm from its logged row (extra keys such as "kind" ignored)."""
        return cls(*(row[f.name] for f in fields(cls)))


def conditions(
    row: dict, peak: float, least_copies: float, t: Thresholds = THRESHOLDS
) -> dict[str, tuple[str, float, str]]:
    """The alarms whose condition holds in one health row, given the run's best diversity
    and lowest near-copy rate before it: name -> (signal, value, bound). Both collapse
    rules look for a fall from the run's own best, so early training, whose samples are
    all alike, raises none."""
    held = {}
    dgz, dx = row.get("D_G_z_mean"), row.get("D_x_mean")
    if dgz is not None and dx is not None:
        if dgz < t.d_wins and dx > 1 - t.d_wins:
            held["d-wins"] = ("D(G(z))", dgz, f"< {t.d_wins:g}")
        if dgz - dx > t.garbage_gap:
            held["g-fools-with-garbage"] = ("D(G(z)) - D(x)", dgz - dx, f"> {t.garbage_gap:g}")
    diversity, floor = row.get("diversity"), t.diversity_drop * peak
    if diversity is not None and diversity < floor:
        held["mode-collapse"] = ("sample diversity", diversity, f"< {floor:.3g} (best {peak:.3g})")
    elif diversity is not None and diversity < t.diversity_floor:
        bound = f"< {t.diversity_floor:g}, the floor of a varied G (best {peak:.3g})"
        held["mode-collapse"] = ("sample diversity", diversity, bound)
    elif (copies := row.get("near_copies")) is not None and copies > t.near_copies > least_copies:
        held["mode-collapse"] = ("near-copy rate", copies, f"> {t.near_copies:g}")
    if row.get("filters_collapsed") is not None and row["filters_collapsed"] > t.filters:
        held["filter-collapse"] = (
            "share of filters ignoring z",
            row["filters_collapsed"],
            f"> {t.filters:g}",
        )
    return held


@dataclass
class Watchdog:
    """The alarm state of a run; `state()`/`from_state` carry it through checkpoints."""

    every: int  # steps between probes
    # THRESHOLDS as it is when the watchdog is made (a test may shorten the warm-up)
    thresholds: Thresholds = field(default_factory=lambda: THRESHOLDS)
    peak: float = 0.0  # the best sample diversity so far
    least_copies: float = 1.0  # the lowest near-copy rate so far
    streaks: dict[str, list[int]] = field(default_factory=dict)  # name -> [count, onset, raised]
    means: dict[str, float] = field(default_factory=dict)  # running D(x), D(G(z)), ...
    channel_means: list[list[float]] | None = None  # G's, at the last probe
    rollbacks: int = 0

    def observe(self, values: dict[str, float]) -> None:
        """One step's D(x), D(G(z)) and gradient norms into their running means (a span of
        one probe interval)."""
        alpha = 2 / (self.every + 1)
        for k, v in values.items():
            old = self.means.get(k)
            self.means[k] = v if old is None or not math.isfinite(old) else old + alpha * (v - old)

    def row(self, step: int, signals: dict[str, float]) -> dict:
        """The health row of a probe: the signals and the running means."""
        return {"step": step, **{f"{k}_mean": v for k, v in self.means.items()}, **signals}

    def check(self, row: dict) -> list[Alarm]:
        """Feed one health row; the alarms it raises (each once per streak)."""
        held = conditions(row, self.peak, self.least_copies, self.thresholds)
        self.peak = max(self.peak, row.get("diversity") or 0.0)
        copies = row.get("near_copies")
        self.least_copies = min(self.least_copies, 1.0 if copies is None else copies)
        t, fired = self.thresholds, []
        for name in ALARMS:
            if name not in held:
                self.streaks.pop(name, None)
                continue
            count, onset, raised = self.streaks.get(name, [0, row["step"], 0])
            fire = not raised and count + 1 >= t.patience and row["step"] > t.warmup
            self.streaks[name] = [count + 1, onset, int(raised or fire)]
            if fire:
                fired.append(Alarm(name, row["step"], onset, *held[name]))
        return fired

    @property
    def clear(self) -> bool:
        """No alarm condition holds at the last probe (a checkpoint now is a healthy one)."""
        return not self.streaks

    def state(self) -> dict:
        return {
            "peak": self.peak,
            "least_copies": self.least_copies,
            "streaks": self.streaks,
            "means": self.means,
            "channel_means": self.channel_means,
            "rollbacks": self.rollbacks,
        }

    @classmethod
    def from_state(cls, every: int, state: dict | None) -> Watchdog:
        dog = cls(every)  # an older checkpoint's "probes" (the warm-up once counted them) unused
        if isinstance(state, dict):
            dog.peak = float(state.get("peak", 0.0))
            dog.least_copies = float(state.get("least_copies", 1.0))
            dog.streaks = {k: list(v) for k, v in dict(state.get("streaks") or {}).items()}
            dog.means = dict(state.get("means") or {})
            dog.channel_means = state.get("channel_means")
            dog.rollbacks = int(state.get("rollbacks", 0))
        return dog


# What a health row's alarm rules read.
SIGNALS = ("diversity", "near_copies", "filters_collapsed", "D_x_mean", "D_G_z_mean")


def logged(rows: list[dict], kind: str) -> list[dict]:
    """A run log's well-formed rows of `kind` ("health", "alarm" or "rollback"): a foreign
    or hand-edited line is skipped, never a traceback in `doctor` or `report`."""
    need = {f.name for f in fields(Alarm)} if kind == "alarm" else set()

    def ok(row: dict) -> bool:
        if row.get("kind") != kind or not isinstance(row.get("step"), int) or need - row.keys():
            return False
        numbers = {"health": SIGNALS, "alarm": ("value", "onset")}.get(kind, ())
        return all(row.get(k) is None or isinstance(row[k], int | float) for k in numbers)

    return [r for r in rows if ok(r)]


def replay(rows: list[dict], thresholds: Thresholds | None = None) -> list[Alarm]:
    """The alarms a run's health rows raise, in order (what `dcgan doctor` reports), under
    `thresholds` (default THRESHOLDS)."""
    dog = Watchdog(every=1, thresholds=thresholds or THRESHOLDS)
    alarms = []
    for row in rows:
        alarms += dog.check(row)
    return alarms
