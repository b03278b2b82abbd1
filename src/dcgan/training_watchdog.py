"""The watchdog inside a training run: the probes, their alarms, and what --on-alarm does
with them (warn, stop, or roll back to healthy.pt with a change). The rules themselves are
dcgan.watchdog's; the signals dcgan.health's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from dcgan import distributed
from dcgan.checkpoint import load_checkpoint
from dcgan.config import TrainConfig
from dcgan.data.loader import BatchOrder
from dcgan.data.packed import PackedDataset
from dcgan.health import probe, probe_batch
from dcgan.progress import Progress
from dcgan.rundir import HEALTHY, RunDir
from dcgan.step import STATS
from dcgan.watchdog import Alarm, Watchdog


class Run(Protocol):
    """What the watchdog reads of a training run (dcgan.training.Trainer), and calls."""

    config: TrainConfig
    g: nn.Module
    d: nn.Module
    job: distributed.Dist
    out: RunDir | None
    order: BatchOrder
    run_dir: Path
    step: int

    def save(self) -> Path | None: ...

    def restart(self, ckpt: dict, alarm: str) -> dict[str, float]: ...


class TrainingWatchdog:
    """A run's watchdog: `observe` each step's statistics, `probe` every --health-every
    steps; both answer what the loop must do ("go", "warn", "stop" or "rollback")."""

    def __init__(
        self, c: TrainConfig, data: PackedDataset, device: torch.device, state: dict | None
    ) -> None:
        self.dog = Watchdog.from_state(c.health_every, state)
        self.z, self.real = probe_batch(data, c.model.nz, c.z_dist, device)
        self.alarms: list[Alarm] = []  # raised in this session
        self.stopped_by: Alarm | None = None

    def observe(self, values: list[float]) -> None:
        self.dog.observe(dict(zip(STATS[2:], values[2:], strict=True)))

    def probe(self, t: Run, progress: Progress) -> str:
        """One health probe: its row in stats.jsonl, its alarms, and the action."""
        measured = probe(t.g, t.d, self.z, self.real, self.dog.channel_means)
        # Rank 0's signals on every rank (BatchNorm buffers may differ by rank): every rank
        # then reaches the same verdict at the same step.
        signals, self.dog.channel_means = distributed.broadcast(measured, t.job)
        row = self.dog.row(t.step, signals)
        alarms = self.dog.check(row)
        if t.out is not None:
            epoch = round(t.step / t.order.steps_per_epoch, 4)
            held = sorted(self.dog.streaks)
            t.out.log({**row, "epoch": epoch, "kind": "health", "held": held}, "health")
        return self._act(t, alarms, progress) if alarms else "go"

    def diverged(self, t: Run, progress: Progress) -> str:
        """A loss is no longer finite: an alarm, acted on as a rollback run asks."""
        step = t.step + 1
        alarm = Alarm("diverged", step, step, "losses", math.nan, "non-finite")
        return self._act(t, [alarm], progress)

    def _act(self, t: Run, alarms: list[Alarm], progress: Progress) -> str:
        """Say what happened, one line per alarm, log it, and do once what --on-alarm asks
        (a rollback that cannot be made stops the run)."""
        c = t.config
        self.alarms += alarms
        action, why = c.on_alarm, ""
        healthy = t.run_dir / HEALTHY
        if action == "rollback" and self.dog.rollbacks >= c.max_rollbacks:
            action, why = "stop", f" (already rolled back {self.dog.rollbacks} times)"
        elif action == "rollback" and not healthy.is_file():
            action, why = "stop", " (no healthy checkpoint yet to roll back to)"
        for alarm in alarms:
            progress.note(f"dcgan: {alarm.line()} [{action}{why}]")
            if t.out is not None:
                t.out.log({**alarm.to_dict(), "kind": "alarm", "action": action + why}, None)
                t.out.note("alarms", f"{alarm.line()} [{action}{why}]", t.step)
        if action == "stop":
            self.stopped_by = alarms[0]
        elif action == "rollback":
            self._roll_back(t, load_checkpoint(healthy), alarms[0], progress)
        return action

    def lines(self) -> tuple[list[str], str | None]:
        """The run's alarms, and the one that stopped it, as their one-line messages."""
        stopped = self.stopped_by.line() if self.stopped_by else None
        return [a.line() for a in self.alarms], stopped

    def _roll_back(self, t: Run, ckpt: dict, alarm: Alarm, progress: Progress) -> None:
        """Continue from healthy.pt with a change (rollback_settings, applied by
        Trainer.restart); the abandoned rows go
        to rollbacks/attempt-K.jsonl."""
        distributed.barrier(t.job)  # every rank has read healthy.pt before rank 0 writes
        from_step, c = t.step, t.config
        change = t.restart(ckpt, alarm.name)
        rollbacks = self.dog.rollbacks + 1
        self.dog = Watchdog.from_state(c.health_every, ckpt.get("health"))
        self.dog.rollbacks, self.dog.streaks = rollbacks, {}
        # In this order a kill at any point resumes: before the save, the run goes on from
        # its latest.pt as if no rollback had begun; after it, from the healthy step.
        if t.out is not None:
            t.out.drop_checkpoints_after(t.step)
        t.save()  # the changed state at the healthy step: latest.pt and healthy.pt
        if t.out is not None:
            row = {"step": t.step, "kind": "rollback", "rollback": rollbacks}
            t.out.log({**row, "from_step": from_step, "alarm": alarm.name, **change}, None)
            t.out.archive_rows_after(t.step, rollbacks)
            t.out.write_config(c)
        progress.rewind(t.step)
        what = ", ".join(f"{k} {v:g}" for k, v in change.items())
        progress.note(
            f"dcgan: rolled back from step {from_step} to step {t.step}"
            f" (rollback {rollbacks} of {c.max_rollbacks}): {what}"
        )


ROLLBACK_LR = 0.5  # a rollback's change of the learning rates
PAPER_LR = 2e-4  # paper §4's learning rate, the highest a rollback keeps


def rollback_settings(c: TrainConfig, alarm: str) -> dict[str, float]:
    """The settings a rollback continues with, so that the same path is not retraced,
    written into `c` and returned. Paper §4 found 0.001 too high a learning rate and used
    0.0002: each rate is halved and brought no higher than that; after `d-wins` (D
    overpowers G) only D's is halved, G's only capped. beta1 no higher than the paper's 0.5,
    and a fresh z stream and data order (seed + 1)."""
    lr_g, lr_d = c.rates()
    c.lr_g = min(lr_g if alarm == "d-wins" else lr_g * ROLLBACK_LR, PAPER_LR)
    c.lr_d = min(lr_d * ROLLBACK_LR, PAPER_LR)
    c.beta1, c.seed = min(c.beta1, 0.5), (c.seed + 1) % 2**32
    return {"lr_g": c.lr_g, "lr_d": c.lr_d, "beta1": c.beta1, "seed": c.seed}
