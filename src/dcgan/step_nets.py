"""What the training step calls: G and D as DDP wraps them under torchrun, compiled with
`--compile`, and the precision context they run in."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dcgan import distributed
from dcgan.config import TrainConfig


@dataclass
class StepNets:
    g: nn.Module  # G for its step (DDP-wrapped under torchrun, compiled with --compile)
    d: nn.Module  # D for its step
    d_frozen: nn.Module | None  # D's bare module for G's step under torchrun, else None
    autocast: contextlib.AbstractContextManager  # bf16 autocast or nothing


def step_nets(
    g: nn.Module, d: nn.Module, config: TrainConfig, device: torch.device, job: distributed.Dist
) -> StepNets:
    """Wrap the run's G and D (their weights shared, not copied) for `train_step`."""
    g_net = distributed.wrap(g, device, job, config.sync_bn)
    d_net = distributed.wrap(d, device, job, config.sync_bn)
    # D's gradient is not needed in G's step: under DDP that forward uses the bare module.
    d_bare = d_net.module if job.enabled else None
    if config.compile:  # keep Inductor's kernels beside the data: later runs skip the compile
        os.environ.setdefault(
            "TORCHINDUCTOR_CACHE_DIR", str(Path(config.cache).absolute() / "inductor")
        )
        g_net, d_net = torch.compile(g_net), torch.compile(d_net)
        d_bare = torch.compile(d_bare) if d_bare else None
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.precision == "bf16"
        else contextlib.nullcontext()
    )
    return StepNets(g_net, d_net, d_bare, autocast)
