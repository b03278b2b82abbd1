"""The watchdog inside a training run: the probes, their alarms, and what --on-alarm does
with them (warn, stop, or roll back to healthy.pt with a change). The rules themselves are
dcgan.watchdog's; the signals dcgan.health's."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from dcgan import distributed
from dcgan.checkpoint import load_checkpoint
from dcgan.data.loader import BatchOrder
from dcgan.health import probe, probe_batch
from dcgan.progress import Progress
from dcgan.rundir import HEALTHY
from dcgan.step import STATS
from dcgan.watchdog import Alarm, Watchdog

if TYPE_CHECKING:
    from dcgan.training import Trainer

# A rollback halves the learning rates (paper §4: too high a rate is what destabilised it).
ROLLBACK_LR = 0.5


class TrainingWatchdog:
    """A run's watchdog: `observe` each step's statistics, `probe` every --health-every
    steps; both answer what the loop must do ("go", "warn", "stop" or "rollback")."""

    def __init__(self, trainer: Trainer, state: dict | None) -> None:
        c = trainer.config
        self.dog = Watchdog.from_state(c.health_every, state)
        self.z, self.real = probe_batch(trainer.data, c.model.nz, c.z_dist, trainer.device)
        self.alarms: list[Alarm] = []  # raised in this session
        self.stopped_by: Alarm | None = None

    def observe(self, values: list[float]) -> None:
        self.dog.observe(dict(zip(STATS[2:], values[2:], strict=True)))

    def probe(self, t: Trainer, progress: Progress) -> str:
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

    def diverged(self, t: Trainer, progress: Progress) -> str:
        """A loss is no longer finite: an alarm, acted on as a rollback run asks."""
        step = t.step + 1
        alarm = Alarm("diverged", step, step, "losses", math.nan, "non-finite")
        return self._act(t, [alarm], progress)

    def _act(self, t: Trainer, alarms: list[Alarm], progress: Progress) -> str:
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

    def _roll_back(self, t: Trainer, ckpt: dict, alarm: Alarm, progress: Progress) -> None:
        """Continue from healthy.pt with a change, so the same path is not retraced: halved
        learning rates, beta1 no higher than the paper's 0.5, a fresh z stream and data
        order. The abandoned rows go to rollbacks/attempt-K.jsonl."""
        distributed.barrier(t.job)  # every rank has read healthy.pt before rank 0 writes
        c, from_step = t.config, t.step
        t.load_state(ckpt)
        c.lr_g = (c.lr if c.lr_g is None else c.lr_g) * ROLLBACK_LR
        c.lr_d = (c.lr if c.lr_d is None else c.lr_d) * ROLLBACK_LR
        c.beta1 = min(c.beta1, 0.5)
        c.seed = (c.seed + 1) % 2**32
        for opt, lr in ((t.opt_g, c.lr_g), (t.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (c.beta1, c.beta2)
        t.z_gen = torch.Generator().manual_seed(c.seed)
        t.order = BatchOrder(len(t.data), t.global_batch, c.seed, t.job.rank, t.job.world)
        rollbacks = self.dog.rollbacks + 1
        self.dog = Watchdog.from_state(c.health_every, ckpt.get("health"))
        self.dog.rollbacks, self.dog.streaks = rollbacks, {}
        change = {"lr_g": c.lr_g, "lr_d": c.lr_d, "beta1": c.beta1, "seed": c.seed}
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
        progress.note(
            f"dcgan: rolled back from step {from_step} to step {t.step} (rollback"
            f" {rollbacks} of {c.max_rollbacks}): lr_g {c.lr_g:g}, lr_d {c.lr_d:g},"
            f" beta1 {c.beta1:g}, seed {c.seed}"
        )
