"""A GAN's health, measured on a fixed batch: how varied G's samples are, how many are near
copies of each other, and how many of G's filters have stopped listening to z (paper §7:
"a subset of filters collapse to a single oscillating mode").

`probe` runs between steps on a fixed z batch and a fixed batch of real images. It leaves
the models as it found them (BatchNorm's running statistics included) and draws from no
random generator, so a run trains the same with or without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from dcgan.conventions import sample_z, to_unit_range

PROBE_SIZE = 64  # samples per probe: enough pairs (2,016) for the near-copy count
PROBE_SEED = 4321  # the probe's fixed z, apart from the grid's
# A sample whose nearest other sample is closer than this share of the real images' median
# nearest-neighbour distance counts as a near copy (a birthday test on 64 samples).
COPY_DISTANCE = 0.25
# A channel "does not listen to z" when its variance across the z batch is below this share
# of its total variance (or it is dead); "oscillates" when its mean moved by more than
# SWING of its spread since the last probe.
Z_VARIANCE = 0.05
SWING = 0.5


def probe_batch(
    data, nz: int, z_dist: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A run's fixed probe batch: PROBE_SIZE z drawn from PROBE_SEED, and real images spread
    evenly over the data (a PackedDataset), in [-1, 1]."""
    z = sample_z(PROBE_SIZE, nz, z_dist, torch.Generator().manual_seed(PROBE_SEED))
    at = np.linspace(0, len(data) - 1, min(PROBE_SIZE, len(data))).astype(np.int64)
    return z.to(device), to_unit_range(data.get_batch(at).to(device))


@contextlib.contextmanager
def kept_buffers(*modules: nn.Module) -> Iterator[None]:
    """Run modules in train mode (batch statistics, as in training) and restore their
    buffers (BatchNorm's running statistics) and modes afterwards."""
    saved = [(m, m.training, [b.clone() for b in m.buffers()]) for m in modules]
    try:
        for m in modules:
            m.train()
        yield
    finally:
        for m, training, buffers in saved:
            with torch.no_grad():
                for b, v in zip(m.buffers(), buffers, strict=True):
                    b.copy_(v)
            m.train(training)


def _mean_pairwise(x: torch.Tensor) -> float:
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def _nearest(x: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values


def near_copy_rate(fake: torch.Tensor, real: torch.Tensor) -> float:
    """Share of samples with a near copy among the others, in pixel space, against the
    real batch's own nearest-neighbour distances."""
    scale = float(_nearest(real.flatten(1)).median())
    return float((_nearest(fake.flatten(1)) < COPY_DISTANCE * scale).float().mean())


def filter_stats(
    layers: list[torch.Tensor], previous: list[list[float]] | None
) -> tuple[float, float, list[list[float]]]:
    """(largest share of a layer's channels that ignore z, largest share that ignore z and
    swung since `previous`, each layer's channel means) for G's hidden layers."""
    collapsed = oscillating = 0.0
    means = []
    for i, h in enumerate(layers):
        h = h.float()
        total = h.var(dim=(0, 2, 3))
        across_z = h.var(dim=0).mean(dim=(1, 2))
        ignores = across_z <= Z_VARIANCE * total
        mean = h.mean(dim=(0, 2, 3))
        means.append(mean.tolist())
        collapsed = max(collapsed, float(ignores.float().mean()))
        if previous is not None and i < len(previous) and len(previous[i]) == len(mean):
            moved = (mean - torch.tensor(previous[i])).abs() > SWING * total.sqrt()
            oscillating = max(oscillating, float((ignores & moved).float().mean()))
    return collapsed, oscillating, means


@torch.no_grad()
def probe(
    g: nn.Module,
    d: nn.Module,
    z: torch.Tensor,
    real: torch.Tensor,
    previous: list[list[float]] | None = None,
) -> tuple[dict[str, float], list[list[float]]]:
    """The health signals of G and D on the fixed batch (z, real images in [-1, 1]), and G's
    channel means for the next probe's oscillation test."""
    with kept_buffers(g, d):
        layers = g.intermediates(z)
        fake = layers[-1].float()
        # One batch through D, so both halves share its batch statistics.
        feats = d.features(torch.cat([real.to(fake.dtype), fake]))[-1].float().flatten(1)
    real_f, fake_f = feats[: len(real)], feats[len(real) :]
    collapsed, oscillating, means = filter_stats(layers[:-1], previous)
    signals = {
        "diversity": _mean_pairwise(fake_f) / max(_mean_pairwise(real_f), 1e-12),
        "pixel_diversity": _mean_pairwise(fake.flatten(1))
        / max(_mean_pairwise(real.float().flatten(1)), 1e-12),
        "near_copies": near_copy_rate(fake, real.float()),
        "filters_collapsed": collapsed,
        "filters_oscillating": oscillating,
    }
    return signals, means
