"""The speed settings keep the math: dcgan's step equals pytorch/examples' loop, and
compiled sampling equals eager sampling."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
import torch

from dcgan.config import ModelConfig
from dcgan.models import Discriminator, Generator
from dcgan.sampling import sample
from dcgan.step import train_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from reference_loop import (  # noqa: E402
    from_dcgan,
    ref_step,
    reference_weights,
    weights_as_reference,
)


def adam(m: torch.nn.Module) -> torch.optim.Adam:
    return torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999))


def test_step_equals_reference_loop() -> None:
    """channels_last, BCEWithLogits and D frozen in G's step: the same updates as the
    reference's NCHW, Sigmoid + BCELoss, unfrozen loop, up to float rounding."""
    torch.manual_seed(0)
    cfg = ModelConfig(size=16, channels=3, ngf=8, ndf=8)
    g, d = Generator(cfg), Discriminator(cfg)
    net_g, net_d = from_dcgan(g, d)
    g.to(memory_format=torch.channels_last)
    d.to(memory_format=torch.channels_last)
    opts = adam(g), adam(d), adam(net_g), adam(net_d)
    start = net_g[0].weight.clone()
    for _ in range(3):
        real, z = torch.rand(16, 3, 16, 16) * 2 - 1, torch.randn(16, cfg.nz)
        ref_step(net_g, net_d, opts[2], opts[3], real, z)
        real = real.contiguous(memory_format=torch.channels_last)
        train_step(g, d, opts[0], opts[1], real, z, contextlib.nullcontext())
    ours, ref = weights_as_reference(g, d), reference_weights(net_g, net_d)
    for a, b in zip([*ours[0], *ours[1]], [*ref[0], *ref[1]], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(ref[0][0], start, atol=1e-5)  # the steps did move the weights


@pytest.mark.skipif(os.environ.get("DCGAN_SKIP_COMPILE") == "1", reason="DCGAN_SKIP_COMPILE=1")
def test_compiled_sampling_matches_eager() -> None:
    torch.manual_seed(0)
    g = Generator(ModelConfig(size=16, channels=1, ngf=8))
    eager = sample(g, seeds=range(8))
    torch.testing.assert_close(sample(g, seeds=range(8), compile=True), eager, atol=1e-5, rtol=0)
