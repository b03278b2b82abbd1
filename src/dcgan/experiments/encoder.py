"""An encoder image -> z trained on G's own samples, whose z is known: it gives
`dcgan project` a start near the answer, which the search in z then refines.

A small convolutional net like D's trunk (stride-2 convs, BatchNorm, LeakyReLU), ending in
z's range: tanh for the uniform prior's box, none for a normal prior. It learns from fresh
samples every step (G is fixed), so it cannot overfit a set of images.
"""

from __future__ import annotations

import torch
from torch import nn

from dcgan.conventions import sample_z

BATCH = 64
WIDTH = 32  # channels of the first conv; each later one doubles them


class Encoder(nn.Module):
    """images (N, C, S, S) in [-1, 1] -> z (N, nz)."""

    def __init__(self, channels: int, size: int, nz: int, uniform: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, cout, side = channels, WIDTH, size
        while side > 4:
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
            cin, cout, side = cout, min(cout * 2, 256), side // 2
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(cin * side * side, nz)
        self.uniform = uniform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.trunk(x).flatten(1))
        return torch.tanh(z) if self.uniform else z


def train_encoder(g: nn.Module, dist: str, steps: int, seed: int = 0) -> Encoder:
    """An encoder fit by mean squared error in z to `steps` batches of (G(z), z); eval mode."""
    c = g.config
    with torch.random.fork_rng():  # seeded weights, the caller's RNG left alone
        torch.manual_seed(seed)
        encoder = Encoder(c.channels, c.size, c.nz, dist == "uniform")
    opt = torch.optim.Adam(encoder.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed + 1)
    encoder.train()
    for _ in range(steps):
        z = sample_z(BATCH, c.nz, dist, rng)
        with torch.no_grad():
            images = g(z)
        loss = (encoder(images) - z).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return encoder.eval()
