"""A trained model as the verbs use it (G, D, the run's config), and the check every
loader runs on its weights. `dcgan.sampling.load` and `dcgan.package.load_package` make one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.config import TrainConfig
from dcgan.errors import DcganError
from dcgan.models import Discriminator, Generator


@dataclass
class Loaded:
    """A trained model: G (its EMA when the run kept one), D, and the run's config."""

    generator: Generator
    discriminator: Discriminator | None  # None for a G-only model (e.g. a converted tutorial G)
    config: TrainConfig
    step: int
    path: Path
    ema: bool = False  # whether `generator` holds the EMA weights
    source: dict | None = None  # where a converted or pulled model came from

    def needs_d(self, verb: str) -> Discriminator:
        """The discriminator, or a one-line error saying that `verb` needs one."""
        if self.discriminator is None:
            raise DcganError(
                f"{verb} needs a discriminator, and {self.path} holds a generator only"
            )
        return self.discriminator


def check_finite(state: dict[str, torch.Tensor], what: str) -> None:
    """Refuse weights holding NaN or inf (`what` names them): they give images of garbage,
    the same file for every verb that reads a generator (sample, export, evaluate, ...)."""
    for name, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise DcganError(
                f"{what} weights are not finite (NaN or inf in {name}): the file is damaged or"
                " its run diverged; use an earlier checkpoint"
            )
