"""The training step of paper §4 (one D update, one non-saturating G update) and G's EMA."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


def train_step(
    g: nn.Module,
    d: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
    autocast: contextlib.AbstractContextManager,
    d_frozen: nn.Module | None = None,
    real_label: float = 1.0,
) -> torch.Tensor:
    """One D update then one non-saturating G update; returns [loss_D, loss_G, D(x), D(G(z))].

    `d_frozen` is D as G's step calls it (default `d`): the bare module when `d` is wrapped
    in DistributedDataParallel, since that step needs no gradient of D's weights.
    `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016): D's target for
    real images only; G's target stays 1.
    """
    ones = torch.ones(real.shape[0], device=real.device)
    zeros = torch.zeros_like(ones)
    d.requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    with autocast:
        fake = g(z)
        logit_real = d(real).float()
        logit_fake = d(fake.detach()).float()
        loss_d = F.binary_cross_entropy_with_logits(
            logit_real, torch.full_like(ones, real_label)
        ) + F.binary_cross_entropy_with_logits(logit_fake, zeros)
    loss_d.backward()
    opt_d.step()
    # D's weight gradients are not needed for G's update: skip computing them (same math).
    d.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    with autocast:
        loss_g = F.binary_cross_entropy_with_logits((d_frozen or d)(fake).float(), ones)
    loss_g.backward()
    opt_g.step()
    return torch.stack(
        [loss_d, loss_g, torch.sigmoid(logit_real).mean(), torch.sigmoid(logit_fake).mean()]
    ).detach()


def ema_decay(decay: float, step: int) -> float:
    """The decay at `step`, warmed up as (1 + step) / (10 + step) so that a short run's
    average is not dominated by the random initial weights (0.999**1000 is still 0.37)."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, g: nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), g.parameters(), strict=True):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema.buffers(), g.buffers(), strict=True):
        be.copy_(b)
