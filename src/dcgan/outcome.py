"""What a training run ends with: its result, and the two ways it stops early (a signal,
after saving; a loss that is no longer finite, keeping the last good checkpoint)."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


def elapsed_of(ckpt: dict | None) -> float:
    """Seconds of training a checkpoint records (0 for a new run or an older checkpoint)."""
    value = ckpt.get("elapsed", 0.0) if ckpt else 0.0
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0
