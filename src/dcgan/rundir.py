"""A training run's folder and everything written in it: `config.json`, `stats.jsonl`, the
TensorBoard events, sample grids, checkpoints (with `latest.pt`), `best.pt`, the
watchdog's `healthy.pt` and `rollbacks/`, and `losses.png`. The trainer and the
in-training evaluation write only through it; it is opened once per training session, on
rank 0 only, and closed once."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import IO, Any

import numpy as np

from dcgan.checkpoint import link_file, save_checkpoint, save_file, step_of
from dcgan.config import TrainConfig
from dcgan.errors import DcganError
from dcgan.io import atomic_write_text
from dcgan.plots import plot_training, read_stats

BEST = "best.pt"
HEALTHY = "healthy.pt"  # the last checkpoint taken while no alarm condition held
ROLLBACKS = "rollbacks"
CONFIG = "config.json"
STATS = "stats.jsonl"
# Row fields that are not scalars to chart.
_NOT_SCALARS = {"step", "epoch", "eval", "best"}


def new_run_dir(out: Path, name: str) -> Path:
    """`out/00007-<name>`: numbered so runs never overwrite each other, even when several
    start at once into the same folder (mkdir is the atomic claim of a number)."""
    out.mkdir(parents=True, exist_ok=True)
    nums = [int(m.group(1)) for p in out.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    num = max(nums, default=-1) + 1
    while True:
        run_dir = out / f"{num:05d}-{name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            num += 1


def run_name(config: TrainConfig) -> str:
    """A new run's folder name after its data and size, e.g. `celeba64`."""
    stem = Path(config.data.rstrip("/")).name.split(".")[0] or "data"
    return f"{re.sub(r'[^A-Za-z0-9_-]', '', stem)}{config.model.size}"


class RunDir:
    """The outputs of one run directory. `open(step)` before logging, `close()` after."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._log: IO[str] | None = None
        self._writer: Any = None  # torch.utils.tensorboard.SummaryWriter

    @classmethod
    def create(cls, out: str | Path, name: str) -> RunDir:
        return cls(new_run_dir(Path(out), name))

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_text(self.path / CONFIG, json.dumps(config.to_dict(), indent=2))

    def open(self, step: int) -> RunDir:
        """Start a session at `step`: log lines past it (from a killed session) are dropped,
        as they will be made again; TensorBoard purges its events past it."""
        from torch.utils.tensorboard import SummaryWriter

        log = self.path / STATS
        if log.exists():
            keep = [ln for ln in log.read_text().splitlines() if _logged_step(ln) <= step]
            atomic_write_text(log, "".join(ln + "\n" for ln in keep))
        self._log = log.open("a")
        self._writer = SummaryWriter(str(self.path / "tensorboard"), purge_step=step)
        return self

    def rows(self) -> list[dict]:
        """The rows logged so far (lines cut short by a kill skipped)."""
        return read_stats(self.path)

    def log(self, row: dict, scalars: str | None) -> None:
        """One row in stats.jsonl, and its numbers as TensorBoard scalars `scalars/<key>`
        (none when `scalars` is None)."""
        if self._log is None:
            raise RuntimeError("RunDir.log before open()")
        try:
            self._log.write(json.dumps(row) + "\n")
            self._log.flush()
        except OSError as e:  # a full disk: name the file (a bare write's error names none)
            raise DcganError(f"cannot write {self.path / STATS} ({e.strerror or e})") from None
        for key, value in row.items() if scalars else ():
            if key not in _NOT_SCALARS and isinstance(value, int | float):
                self._writer.add_scalar(f"{scalars}/{key}", value, row["step"])

    def grid(self, image: Any, step: int) -> Path:
        """A sample grid (a PIL image): `samples/step-<step>.png`, `samples.png`, and
        TensorBoard's image when a session is open."""
        from dcgan.sampling import save_png

        save_png(image, self.path / "samples" / f"step-{step:08d}.png")
        if self._writer is not None:
            self._writer.add_image("samples", np.asarray(image), step, dataformats="HWC")
        return save_png(image, self.path / "samples.png")

    def checkpoint(self, state: dict, step: int, keep: int) -> Path:
        return save_checkpoint(self.path, state, step, keep)

    def save_best(self, state: dict) -> Path:
        return save_file(self.path / BEST, state)

    def note(self, tag: str, text: str, step: int) -> None:
        """A line of text in TensorBoard (an alarm, say)."""
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def mark_healthy(self, checkpoint: Path) -> None:
        """`healthy.pt` becomes `checkpoint`."""
        link_file(checkpoint, self.path / HEALTHY)

    def drop_checkpoints_after(self, step: int) -> None:
        """Remove the checkpoints past `step` (a rollback's first move; latest.pt still
        holds the newest state until the next checkpoint, so a kill here resumes)."""
        for ckpt in self.path.glob("ckpt-*.pt"):
            if step_of(ckpt) > step:
                ckpt.unlink(missing_ok=True)

    def archive_rows_after(self, step: int, attempt: int) -> None:
        """Move the rows logged past `step` to `rollbacks/attempt-K.jsonl` (written
        atomically before stats.jsonl is cut), and reopen the log and TensorBoard there."""
        rows = [ln for ln in self._lines() if _logged_step(ln) > step]
        atomic_write_text(self.path / ROLLBACKS / f"attempt-{attempt}.jsonl", "".join(rows))
        self.close()
        self.open(step)

    def _lines(self) -> list[str]:
        log = self.path / STATS
        return [ln + "\n" for ln in log.read_text().splitlines()] if log.exists() else []

    def plot(self) -> Path | None:
        return plot_training(self.path)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _logged_step(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as never written."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf
