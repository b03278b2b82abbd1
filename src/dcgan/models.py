"""Generator and Discriminator following the five guidelines of PAPER §1.

G: z -> one linear projection to 4x4xC -> stride-2 transposed convs (each halves the
channels and doubles the side) -> Tanh. D mirrors it with stride-2 convs and LeakyReLU(0.2),
and flattens its last 4x4 map into one logit. BatchNorm everywhere except G's output and
D's input. No pooling, no fully connected hidden layers, no biases (a bias before
BatchNorm is redundant, and the authors' released models have none).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from dcgan.config import ModelConfig, check_size


def _resolved(config: ModelConfig | None, kwargs: dict) -> ModelConfig:
    """The config with channels fixed (3, Figure 1's RGB, when the data did not decide)."""
    config = config or ModelConfig(**kwargs)
    return config if config.channels else dataclasses.replace(config, channels=3)


def num_stages(size: int) -> int:
    """Number of stride-2 stages between 4x4 and `size` x `size`."""
    return int(math.log2(check_size(size) // 4))


class Generator(nn.Module):
    """z (N, nz) -> images (N, channels, size, size) in [-1, 1]."""

    def __init__(self, config: ModelConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = _resolved(config, kwargs)
        c = self.config
        n = num_stages(c.size)
        self.base_channels = c.ngf * 2 ** (n - 1)  # 1024 at 64 px with ngf=128 (Figure 1)
        self.project = nn.Linear(c.nz, 4 * 4 * self.base_channels, bias=False)
        self.project_bn = nn.BatchNorm2d(self.base_channels)
        blocks: list[nn.Module] = []
        ch = self.base_channels
        for _ in range(n - 1):
            blocks.append(
                nn.Sequential(
                    nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(ch // 2),
                    nn.ReLU(inplace=True),
                )
            )
            ch //= 2
        blocks.append(
            nn.Sequential(nn.ConvTranspose2d(ch, c.channels, 4, 2, 1, bias=False), nn.Tanh())
        )
        self.blocks = nn.ModuleList(blocks)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.intermediates(z)[-1]

    def intermediates(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Activations after the projection and after every conv layer; the last is the image."""
        h = self.project(z.flatten(1)).view(-1, self.base_channels, 4, 4)
        h = torch.relu(self.project_bn(h))
        outs = [h]
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs


class Discriminator(nn.Module):
    """images (N, channels, size, size) -> one logit per image (use BCEWithLogitsLoss)."""

    def __init__(self, config: ModelConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = _resolved(config, kwargs)
        c = self.config
        n = num_stages(c.size)
        blocks: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(c.channels, c.ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)
            )
        ]
        ch = c.ndf
        for _ in range(n - 1):
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(ch * 2),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            ch *= 2
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(ch * 4 * 4, 1, bias=False)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return self.head(h.flatten(1)).view(-1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every conv layer (after BatchNorm and LeakyReLU), input to output."""
        outs = []
        h = x
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs


def init_weights(module: nn.Module) -> None:
    """PAPER §2: all weights N(0, 0.02); BatchNorm gamma N(1, 0.02), beta 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
