"""What a training run ends with: its result, and the three ways it stops early (a signal,
after saving; a loss that is no longer finite, keeping the last good checkpoint; an alarm
of the watchdog, under --on-alarm stop or once the rollbacks are spent)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from dcgan.errors import DcganError
from dcgan.interrupts import exit_code


class TrainingDiverged(DcganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool = False
    signal: int | None = None  # what stopped the run: SIGINT or SIGTERM
    trained: int = 0  # steps taken by this call (0: the run was already at its limit)
    alarms: list[str] = field(default_factory=list)  # the watchdog's, in this call
    stopped_by: str | None = None  # the alarm that stopped the run

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal that stopped the run (130 SIGINT, 143 SIGTERM)."""
        return exit_code(self.signal) if self.signal else 0


class TrainingInterrupted(KeyboardInterrupt):
    """`train()` was stopped by Ctrl-C or SIGTERM after saving the checkpoint of
    `result.step`; `train(resume=result.run_dir)` continues it exactly."""

    def __init__(self, result: TrainResult) -> None:
        super().__init__(
            f"interrupted at step {result.step}; the checkpoint is saved in {result.run_dir}"
        )
        self.result = result


class TrainingStopped(DcganError):
    """The watchdog stopped the run on an alarm, after saving its checkpoint; `healthy.pt`
    in the run directory is the last state before the trouble began."""

    def __init__(self, result: TrainResult) -> None:
        healthy = Path(result.run_dir) / "healthy.pt"
        back = (
            f"; the last healthy state is {healthy}"
            if healthy.is_file()
            else "; no checkpoint was taken before the trouble began"
        )
        why = f"stopped at step {result.step} by the watchdog: {result.stopped_by}"
        super().__init__(why + back)
        self.result = result


def elapsed_of(ckpt: dict | None) -> float:
    """Seconds of training a checkpoint records (0 for a new run or an older checkpoint)."""
    value = ckpt.get("elapsed", 0.0) if ckpt else 0.0
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0
