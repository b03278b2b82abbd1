"""The watchdog's warm-up is counted in steps, not probes: a run probed every 20 steps
raises no alarm in its first 500 steps, as one probed every 100 (the default) does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import train_tiny

from dcgan.doctor import diagnose
from dcgan.plots import read_stats
from dcgan.watchdog import THRESHOLDS, replay

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_frequent_probe_raises_nothing_in_the_warm_up(tmp_path: Path) -> None:
    """A real tiny run starts with samples all alike: its diversity stays under the floor
    for its first few hundred steps, probed every 20 steps, and no alarm may come of it."""
    every, steps = 20, 300
    assert steps <= THRESHOLDS.warmup
    run = train_tiny(tmp_path, steps=steps, health_every=every, checkpoint_every=100)
    rows = read_stats(run)
    health = [r for r in rows if r.get("kind") == "health"]
    assert [r["step"] for r in health] == list(range(every, steps + 1, every))
    assert not [r for r in rows if r.get("kind") == "alarm"]
    assert not diagnose(run).alarms  # doctor agrees
    # Not for want of trouble: the floor's condition held for more than `patience` probes,
    # and a warm-up of 5 probes (500 steps only at the default probe) would have alarmed.
    early = [r for r in health if "mode-collapse" in r["held"]]
    assert len(early) > THRESHOLDS.patience + 5
    alarms = replay(health, replace(THRESHOLDS, warmup=5 * every))
    assert [a.name for a in alarms][:1] == ["mode-collapse"]
    assert alarms[0].step <= THRESHOLDS.warmup
