"""The training step of paper §4 (one D update, one non-saturating G update) and G's EMA."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# What train_step returns, in order.
STATS = ("loss_D", "loss_G", "D_x", "D_G_z", "grad_D", "grad_G", "real_as_real", "fake_as_real")


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
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One D update then one non-saturating G update; returns STATS: the losses, D's mean
    outputs, the gradient norms and the shares of real and generated images D takes for real.

    `d_frozen` is D as G's step calls it (default `d`): the bare module when `d` is wrapped
    in DistributedDataParallel, since that step needs no gradient of D's weights.
    `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016): D's target for
    real images only; G's target stays 1.
    `augment` (dcgan.augment) transforms every batch D sees, real and generated, in both
    updates, each call with fresh random parameters; it is differentiable, so G's gradient
    passes through it. None: D sees the images as they are (paper §4).
    """
    aug = augment or (lambda x: x)
    ones = torch.ones(real.shape[0], device=real.device)
    zeros = torch.zeros_like(ones)
    d.requires_grad_(True)
    opt_d.zero_grad(set_to_none=True)
    with autocast:
        fake = g(z)
        logit_real = d(aug(real)).float()
        logit_fake = d(aug(fake.detach())).float()
        loss_d = F.binary_cross_entropy_with_logits(
            logit_real, torch.full_like(ones, real_label)
        ) + F.binary_cross_entropy_with_logits(logit_fake, zeros)
    loss_d.backward()
    grad_d = grad_norm(d)
    opt_d.step()
    # D's weight gradients are not needed for G's update: skip computing them (same math).
    d.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    with autocast:
        loss_g = F.binary_cross_entropy_with_logits((d_frozen or d)(aug(fake)).float(), ones)
    loss_g.backward()
    grad_g = grad_norm(g)
    opt_g.step()
    d_x, d_g_z = torch.sigmoid(logit_real).mean(), torch.sigmoid(logit_fake).mean()
    real_as_real, fake_as_real = (logit_real > 0).float().mean(), (logit_fake > 0).float().mean()
    stats = [loss_d, loss_g, d_x, d_g_z, grad_d, grad_g, real_as_real, fake_as_real]
    return torch.stack([s.float() for s in stats]).detach()


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The L2 norm of all of a module's gradients (the watchdog's signal of a blow-up)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


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
