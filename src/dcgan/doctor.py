"""`dcgan doctor RUN`: the watchdog's verdict on a run after the fact, from the health rows
it logged, or recomputed from its checkpoints for a run trained without the watchdog (or
with `recompute`). It names each alarm, where the trouble began, the healthiest checkpoint
to go back to, and draws the signals over time (`health.png`)."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dcgan import watchdog
from dcgan.checkpoint import checkpoint_config, load_checkpoint, step_of
from dcgan.data.packed import resolve_data
from dcgan.devices import pick_device
from dcgan.errors import DcganError
from dcgan.health import probe, probe_batch
from dcgan.models import Discriminator, Generator
from dcgan.options import configure
from dcgan.options_tools import DoctorConfig
from dcgan.plots import plot_health, read_stats
from dcgan.rundir import HEALTHY
from dcgan.watchdog import Alarm, logged, replay

# Recomputed rows are as far apart as the checkpoints kept (often thousands of steps): one
# row out of bounds is evidence enough there (the warm-up is in steps, as in training).
SPARSE_PATIENCE = 1


@dataclass
class Diagnosis:
    run_dir: Path
    rows: list[dict]  # the health rows judged
    recomputed: bool  # True: from the checkpoints, not from the run's own log
    alarms: list[Alarm]
    healthiest: Path | None  # where to go back to
    figure: Path | None

    def lines(self) -> list[str]:
        """What `dcgan doctor` prints."""
        source = (
            f"{len(self.rows)} probes recomputed from the checkpoints"
            if self.recomputed
            else f"{len(self.rows)} health probes logged during training"
        )
        out = [f"{self.run_dir}: {source}"]
        out += [a.line() for a in self.alarms] or ["no alarm: the run looks healthy"]
        if self.alarms and self.healthiest is not None:
            out.append(
                f"healthiest checkpoint: {self.healthiest}"
                f" (continue from it: dcgan train --resume {self.healthiest})"
            )
        elif self.alarms:
            out.append("no checkpoint was taken before the trouble began")
        if self.figure is not None:
            out.append(f"signals drawn in {self.figure}")
        return out


def diagnose(run: str | Path, config: DoctorConfig | None = None, **options: Any) -> Diagnosis:
    """The watchdog's verdict on the run directory `run` (see DoctorConfig)."""
    config = configure(DoctorConfig, config, options)
    run_dir = Path(run)
    if not (run_dir / "config.json").is_file():
        raise DcganError(f"{run_dir} is not a run directory (no config.json)")
    rows = read_stats(run_dir)
    health = logged(rows, "health")
    recomputed = config.recompute or not health
    thresholds = watchdog.THRESHOLDS
    if recomputed:
        health = recompute(run_dir, rows, config)
        thresholds = dataclasses.replace(thresholds, patience=SPARSE_PATIENCE)
    if not health:
        raise DcganError(f"{run_dir} has no checkpoint to diagnose yet")
    alarms = replay(health, thresholds)
    rollbacks = [r["step"] for r in logged(rows, "rollback")]
    marks = [(a.step, a.name) for a in alarms]
    figure = plot_health(health, marks, rollbacks, run_dir / "health.png")
    return Diagnosis(run_dir, health, recomputed, alarms, healthiest(run_dir, alarms), figure)


def healthiest(run_dir: Path, alarms: list[Alarm]) -> Path | None:
    """The run's healthy.pt, else its last checkpoint before the first alarm's onset."""
    if (run_dir / HEALTHY).is_file():
        return run_dir / HEALTHY
    onset = min((a.onset for a in alarms), default=None)
    before = [p for p in run_dir.glob("ckpt-*.pt") if onset is None or step_of(p) < onset]
    return max(before, key=step_of, default=None)


def recompute(run_dir: Path, rows: list[dict], config: DoctorConfig) -> list[dict]:
    """A health row per checkpoint file: the probe on its G and D, and D's outputs averaged
    over the logged steps since the checkpoint before it."""
    ckpts = sorted(run_dir.glob("ckpt-*.pt"), key=step_of)
    if not ckpts:
        return []
    device = pick_device(config.device)
    run = checkpoint_config(load_checkpoint(ckpts[0])["config"], ckpts[0])
    data = resolve_data(
        config.data or run.data, run.model.size, run.model.channels, None, config.cache
    )
    z, real = probe_batch(data, run.model.nz, run.z_dist, device)
    train_rows = [
        r
        for r in rows
        if isinstance(r.get("step"), int)
        and all(isinstance(r.get(k), int | float) for k in ("D_x", "D_G_z"))
    ]
    out, previous, last = [], None, 0
    for path in ckpts:
        ckpt = load_checkpoint(path, map_location=device)
        g, d = Generator(run.model).to(device), Discriminator(run.model).to(device)
        try:
            g.load_state_dict(ckpt["G"])
            d.load_state_dict(ckpt["D"])
        except (KeyError, RuntimeError) as e:
            raise DcganError(f"{path} does not fit its run's model ({e})") from None
        with torch.no_grad():
            signals, previous = probe(g, d, z, real, previous)
        step = int(ckpt["step"])
        window = [r for r in train_rows if last < r["step"] <= step]
        means = {
            f"{k}_mean": statistics.fmean(r[k] for r in window) for k in ("D_x", "D_G_z") if window
        }
        out.append({"step": step, **means, **signals})
        last = step
    return out
