"""Evaluation during training: every `eval_every` steps, one metric of the current generator
(its EMA when kept), a row in stats.jsonl, and `best.pt` when the metric improves (both
written through the run's RunDir).

It runs between steps and leaves the trainer's random state as it found it (it draws from
no global generator, and restores them all anyway), so a run trains the same with or
without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from dcgan.checkpoint import rng_state, set_rng_state
from dcgan.config import TrainConfig
from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.errors import DcganError
from dcgan.metrics.evaluate import Evaluator, is_extractor
from dcgan.metrics.extractors import get_extractor
from dcgan.metrics.fidelity import METRICS, parse_metrics
from dcgan.rundir import RunDir


class TrainingEval:
    """The in-training evaluator of one run; `best` is (step, value) or None."""

    def __init__(
        self,
        config: TrainConfig,
        data: PackedDataset,
        run_dir: RunDir,
        device: torch.device,
        step: int = 0,
    ) -> None:
        """`step`: where the run (re)starts; a resumed run goes on from the best before it."""
        names = parse_metrics(config.eval_metric)
        if len(names) != 1:
            raise DcganError(f"eval_metric takes one metric, got {config.eval_metric!r}")
        self.name, self.metric = names[0], METRICS[names[0]]
        self.every, self.run_dir = config.eval_every, run_dir
        if config.eval_data:
            m = config.model
            data = resolve_data(config.eval_data, m.size, m.channels, None, config.cache)
        saved = rng_state()  # building a network initialises weights from the global RNG
        try:
            weights = config.inception_weights
            extractor = get_extractor(config.eval_extractor, weights, device, config.cache)
            logits = is_extractor(extractor, [self.name], weights, device)
            self.evaluator = Evaluator(
                data, extractor, [self.name], config.eval_n, config.cache, logits
            )
        finally:
            set_rng_state(saved)
        self.z_dist = config.z_dist
        self.best = self._best_logged(step)

    def _best_logged(self, step: int) -> tuple[int, float] | None:
        """The best value in stats.jsonl up to `step` (later rows will be made again)."""
        best = None
        for row in self.run_dir.rows():
            if (
                row.get("eval") == self.name
                and row["step"] <= step
                and self._better(row[self.metric.primary], best)
            ):
                best = (row["step"], row[self.metric.primary])
        return best

    def _better(self, value: float, best: tuple[int, float] | None) -> bool:
        if best is None:
            return True
        return value > best[1] if self.metric.higher_is_better else value < best[1]

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    def __call__(self, g: nn.Module, step: int, epoch: float, state: Callable[[], dict]) -> dict:
        """Evaluate `g`; write best.pt (from `state()`) if it is the best yet; the log row."""
        saved, t0 = rng_state(), time.monotonic()
        try:
            values = self.evaluator(g, self.z_dist)
        finally:
            set_rng_state(saved)
        value = values[self.metric.primary]
        is_best = self._better(value, self.best)
        if is_best:
            self.best = (step, value)
            self.run_dir.save_best({**state(), "best": {"metric": self.name, **values}})
        row = {"step": step, "epoch": round(epoch, 4), "eval": self.name, **values}
        return {**row, "best": is_best, "eval_s": round(time.monotonic() - t0, 2)}
