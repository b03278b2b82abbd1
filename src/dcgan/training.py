"""The training loop of paper §4: one step function, logging, grids, checkpoints, resume."""

from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from dcgan import distributed
from dcgan import resume as resuming
from dcgan.augment import Augment
from dcgan.checkpoint import rng_state, set_rng_state
from dcgan.config import DEFAULT_EPOCHS, TrainConfig
from dcgan.conventions import to_unit_range
from dcgan.data.loader import BatchOrder, batches
from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.devices import pick_device, resolve_precision
from dcgan.errors import DcganError, first_line
from dcgan.extras import require
from dcgan.interrupts import StopSignal
from dcgan.models import Discriminator, Generator
from dcgan.outcome import (
    TrainingDiverged,
    TrainingInterrupted,
    TrainingStopped,
    TrainResult,
    elapsed_of,
)
from dcgan.progress import UNBOUNDED, Progress
from dcgan.rundir import RunDir, run_name
from dcgan.sampling import generate, grid_image, sample_z
from dcgan.step import STATS, ema_decay, train_step, update_ema
from dcgan.step_nets import step_nets
from dcgan.training_watchdog import TrainingWatchdog, rollback_settings

__all__ = [
    "DEFAULT_EPOCHS",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "ema_decay",
    "train",
    "train_step",
    "update_ema",
]

GRID_SEED = 1234


class Trainer:
    """Holds a run's models, optimizers and outputs; `run()` trains until a limit is hit."""

    def __init__(
        self,
        config: TrainConfig,
        resume: str | Path | None = None,
        given: set[str] | None = None,
    ) -> None:
        """`given`: the fields the caller set (the flags typed on the command line); by
        default those that differ from TrainConfig's defaults (see dcgan.resume)."""
        device = pick_device(config.device)
        self.job = distributed.setup(device)
        self.device = distributed.local_device(device, self.job)
        self.main = self.job.is_main  # only rank 0 writes
        self.cli = given is not None  # refusals name flags, else Python fields
        given = resuming.set_fields(config) if given is None else given
        config, ckpt, run_dir = resuming.open_run(config, resume, given, self.job, self.cli)
        # Decided once, where the run starts and saved with it: a resumed run keeps it. CPUs
        # with native bf16 train in it too (the parity test of bench/precision_parity.py).
        config.precision = resolve_precision(config.precision, self.device, cpu_bf16=True)
        self.config = config
        self.elapsed = elapsed_of(ckpt)
        self.saved_at = time.monotonic()  # when this session last saved (or began)
        if config.eval_every:  # FID & co. are the `metrics` extra: say so before any work
            require("metrics", "torch_fidelity")
        self.global_batch, self.rank_batch = distributed.rank_batch(
            config.batch_size, self.job, config.batch_per_rank
        )
        if not self.main:  # rank 0 prepares a raw source once, the others then open it
            distributed.barrier(self.job)
        self.data: PackedDataset = resolve_data(
            config.data,
            config.model.size,
            config.model.channels,
            config.format,
            config.cache,
            progress=config.progress and self.main,
        )
        if self.main:
            distributed.barrier(self.job)
        if config.model.channels is None:
            config.model.channels = self.data.channels
        self.order = BatchOrder(
            len(self.data), self.global_batch, config.seed, self.job.rank, self.job.world
        )
        self._build(ckpt)
        self.out: RunDir | None = None  # the run's outputs: rank 0 writes, the others don't
        if self.main:
            self.out = RunDir(run_dir) if run_dir else RunDir.create(config.out, run_name(config))
            self.out.write_config(config)  # a resume may have moved the limits: say which hold
        self.run_dir = Path(
            distributed.broadcast(str(self.out.path) if self.main else "", self.job)
        )
        self.guard = (  # the watchdog (dcgan.training_watchdog)
            TrainingWatchdog(config, self.data, self.device, (ckpt or {}).get("health"))
            if config.health_every
            else None
        )
        self.watch = None
        if config.eval_every and self.out is not None:  # FID & co. during training
            from dcgan.training_eval import TrainingEval

            self.watch = TrainingEval(config, self.data, self.out, self.device, self.step)

    def _build(self, ckpt: dict | None) -> None:
        c = self.config
        torch.manual_seed(c.seed)
        random.seed(c.seed)
        np.random.seed(c.seed)
        try:
            self.g = Generator(c.model).to(self.device)
            self.d = Discriminator(c.model).to(self.device)
        except (TypeError, ValueError) as e:  # a resumed config with a field of the wrong type
            raise DcganError(f"the run's model config does not build ({first_line(e)})") from None
        if c.channels_last:
            self.g.to(memory_format=torch.channels_last)
            self.d.to(memory_format=torch.channels_last)
        betas = (c.beta1, c.beta2)
        lr_g, lr_d = c.rates()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr_d, betas=betas)
        self.ema = copy.deepcopy(self.g).eval().requires_grad_(False) if c.ema else None
        self.z_gen = torch.Generator().manual_seed(c.seed)
        self.augment = None
        if c.augment != "none":  # differentiable augmentation before D (dcgan.augment)
            self.augment = Augment(c.augment, c.seed, self.job.rank, self.job.world)
        self.step = 0
        if ckpt is not None:
            self.load_state(ckpt)
        self.nets = step_nets(self.g, self.d, c, self.device, self.job)
        self.fixed_z = sample_z(64, c.model.nz, c.z_dist, torch.Generator().manual_seed(GRID_SEED))

    def load_state(self, ckpt: dict) -> None:
        """Models, optimizers, step and random streams as a checkpoint saved them."""
        try:
            self.g.load_state_dict(ckpt["G"])
            self.d.load_state_dict(ckpt["D"])
            self.opt_g.load_state_dict(ckpt["opt_G"])
            self.opt_d.load_state_dict(ckpt["opt_D"])
            if self.ema is not None:
                self.ema.load_state_dict(ckpt["G_ema"])
            self.step = int(ckpt["step"])
            self.z_gen.set_state(ckpt["rng"]["z"])
            if self.augment is not None:
                self.augment.load_state(ckpt["augment"])
            set_rng_state(ckpt["rng"])
        except Exception as e:  # the loader policy: a checkpoint that does not fit is one line
            raise DcganError(f"checkpoint does not fit this model ({first_line(e)})") from None

    def restart(self, ckpt: dict, alarm: str) -> dict[str, float]:
        """Go back to `ckpt` with the rollback's change of settings (training_watchdog.
        rollback_settings, written into the config): the optimizers take its rates and beta1,
        the z stream and data order its seed. Returns the change."""
        c = self.config
        self.load_state(ckpt)
        change = rollback_settings(c, alarm)
        for opt, lr in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (c.beta1, c.beta2)
        self.z_gen = torch.Generator().manual_seed(c.seed)
        self.order = BatchOrder(
            len(self.data), self.global_batch, c.seed, self.job.rank, self.job.world
        )
        return change

    def state(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "epoch": self.step / self.order.steps_per_epoch,
            "G": self.g.state_dict(),
            "D": self.d.state_dict(),
            "G_ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_G": self.opt_g.state_dict(),
            "opt_D": self.opt_d.state_dict(),
            "rng": {**rng_state(), "z": self.z_gen.get_state()},
            "elapsed": self.elapsed,  # seconds of training so far: what --time-limit counts
            "health": self.guard.dog.state() if self.guard is not None else None,
            "augment": self.augment.state() if self.augment is not None else None,
        }

    def total_steps(self) -> int:
        limit = self.config.total_steps(self.order.steps_per_epoch)
        return UNBOUNDED if limit is None else limit

    def save(self) -> Path | None:
        """A checkpoint; also `healthy.pt` while no alarm condition holds."""
        if self.out is None:
            return None
        path = self.out.checkpoint(self.state(), self.step, self.config.keep)
        self.saved_at = time.monotonic()
        if self.guard is not None and self.guard.dog.clear:
            self.out.mark_healthy(path)
        return path

    def _checkpoint_due(self) -> bool:
        """Whether --checkpoint-minutes have passed since the last checkpoint (or the start
        of this session)."""
        minutes = self.config.checkpoint_minutes
        return bool(minutes) and time.monotonic() - self.saved_at >= minutes * 60

    def write_grid(self) -> Path | None:
        if self.out is None:
            return None
        g = self.ema if self.ema is not None else self.g
        images = generate(g, self.fixed_z, "batch", self.config.z_dist)
        return self.out.grid(grid_image(images, nrow=8), self.step)

    def run(self) -> TrainResult:
        c = self.config
        total = self.total_steps()
        time_limit = c.time_limit * 60 if c.time_limit else None
        if self.step >= total or (time_limit and self.elapsed >= time_limit):
            return TrainResult(self.run_dir, self.step)  # already at its limit: nothing to do
        first_step = self.step
        if self.out is not None:
            self.out.open(self.step)
        progress = Progress(
            self.step, total, time_limit, self.elapsed, c.progress and self.main, self.main
        )
        progress.bar.set_description(c.precision)  # which math this run does, on the bar
        # The stop flag stays armed through the final save: a second Ctrl-C or a SIGTERM
        # while it is written is noted, never a cut-short checkpoint.
        on_stop = (
            "dcgan: interrupted: finishing this step, then saving a checkpoint"
            " (a second Ctrl-C waits for it)"
        )
        try:
            with StopSignal(on_stop if self.main else None) as stop:
                self._loop(stop, progress, total)
                self.save()
                if stop.received is None:  # interrupted: the checkpoint first, no slow extras
                    self.write_grid()
                if self.out is not None:
                    self.out.plot()
                distributed.barrier(self.job)
        finally:
            if self.out is not None:
                self.out.close()
        received = stop.received
        trained = self.step - first_step
        alarms, stopped_by = self.guard.lines() if self.guard else ([], None)
        return TrainResult(
            self.run_dir, self.step, received is not None, received, trained, alarms, stopped_by
        )

    def _loop(self, stop: StopSignal, progress: Progress, total: int) -> None:
        """Steps until a limit, a signal, divergence or an alarm that stops the run; a
        rollback goes on from the healthy step."""
        try:
            while self._steps(stop, progress, total):
                pass
        finally:
            progress.close()

    def _steps(self, stop: StopSignal, progress: Progress, total: int) -> bool:
        """Steps with logs, grids and checkpoints on the way; True after a rollback."""
        c = self.config
        t_log, step_log = time.monotonic(), self.step
        pin = self.device.type == "cuda"
        for raw in batches(self.data, self.order, self.step, total, pin=pin):
            stats = self._step(raw)
            stats, (signalled, late, due) = distributed.agree(
                stats,
                [stop.received is not None, progress.out_of_time(), self._checkpoint_due()],
                self.job,
            )
            values = stats.tolist()
            if not all(map(math.isfinite, values)):
                return self._diverged(values, progress)
            if self.guard is not None:
                self.guard.observe(values)
            if self.ema is not None:
                update_ema(self.ema, self.g, ema_decay(c.ema, self.step))
            if self.augment is not None:  # ADA's p follows D's overfitting signal
                self.augment.observe(values[STATS.index("real_as_real")], self.global_batch)
            self.step += 1
            self.elapsed = progress.elapsed()
            progress.update(self.step)
            last = self.step == total or signalled or late
            if self.out is not None and (self.step % c.log_every == 0 or last):
                now = time.monotonic()
                rate = (self.step - step_log) * self.global_batch / max(now - t_log, 1e-9)
                t_log, step_log = now, self.step
                self._log(values, rate)
                progress.postfix(loss_D=f"{values[0]:.3f}", loss_G=f"{values[1]:.3f}")
            if self.guard is not None and self.step % c.health_every == 0:
                action = self.guard.probe(self, progress)
                if action == "rollback":
                    return True
                if action == "stop":
                    return False
            if self.step % c.sample_every == 0:
                self.write_grid()
            if self.step % c.checkpoint_every == 0 or (due and not last):
                self.save()
            if self.watch is not None and self.watch.due(self.step, total):
                self._evaluate()
            if signalled or late:
                break
        return False

    def _diverged(self, values: list[float], progress: Progress) -> bool:
        """A loss is no longer finite: roll back if asked (True), else stop with the error."""
        message = (
            f"loss became {values[:2]} at step {self.step + 1}; "
            f"the last good checkpoint is kept in {self.run_dir}"
        )
        if self.guard is None or self.config.on_alarm != "rollback":
            raise TrainingDiverged(message)
        if self.guard.diverged(self, progress) != "rollback":
            raise TrainingDiverged(message)
        return True

    def _step(self, raw: torch.Tensor) -> torch.Tensor:
        """One step of paper §3's recipe on a uint8 batch; returns its statistics."""
        c = self.config
        # Copy uint8 (4x fewer bytes than floats), convert on the device.
        real = to_unit_range(raw.to(self.device, non_blocking=True))
        if c.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        # Every rank draws the global batch's z and keeps its own rows.
        z = sample_z(self.global_batch, c.model.nz, c.z_dist, self.z_gen)
        z = distributed.shard(z, self.job).to(self.device)
        n = self.nets
        return train_step(
            n.g,
            n.d,
            self.opt_g,
            self.opt_d,
            real,
            z,
            n.autocast,
            n.d_frozen,
            c.real_label,
            self.augment,
        )

    def _log(self, values: list[float], rate: float) -> None:
        row = {
            "step": self.step,
            "epoch": round(self.step / self.order.steps_per_epoch, 4),
            **dict(zip(STATS, values, strict=True)),
            **({"augment_p": round(self.augment.p, 4)} if self.augment is not None else {}),
            "img_s": round(rate, 1),
            "time": round(self.elapsed, 2),
        }
        self.out.log(row, "train")

    def _evaluate(self) -> None:
        """One in-training evaluation: a stats.jsonl row, TensorBoard scalars, maybe best.pt."""
        g = self.ema if self.ema is not None else self.g
        row = self.watch(g, self.step, self.step / self.order.steps_per_epoch, self.state)
        self.out.log(row, "eval")


def train(
    config: TrainConfig | None = None,
    resume: str | Path | None = None,
    *,
    given: set[str] | None = None,
) -> TrainResult:
    """Train a DCGAN; returns where the run lives. See TrainConfig for every option.

    `train(resume=RUN)` continues a run exactly, with its own limits; `train(TrainConfig(
    steps=N), resume=RUN)` moves them. A field set to another value than the run's is refused
    (dcgan.resume). Ctrl-C or SIGTERM saves a checkpoint, then raises TrainingInterrupted
    (a KeyboardInterrupt), so a script never goes on with a half-trained model.
    Under torchrun every process calls this; see dcgan.distributed."""
    if config is None:
        config = TrainConfig()
    if not isinstance(config, TrainConfig):
        raise DcganError(
            f"train() takes a TrainConfig, got {type(config).__name__} {config!r}:"
            " e.g. train(TrainConfig(data='digits'))"
        )
    try:
        result = Trainer(config, resume, given).run()
    finally:
        distributed.shutdown()
    if result.interrupted:
        raise TrainingInterrupted(result)
    if result.stopped_by:
        raise TrainingStopped(result)
    return result
