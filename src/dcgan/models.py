"""Generator and Discriminator following the five guidelines of paper §3.

G: z -> one linear projection to 4x4xC -> stride-2 transposed convs (each halves the
channels and doubles the side) -> Tanh. D mirrors it with stride-2 convs and LeakyReLU(0.2),
and flattens its last 4x4 map into one logit. BatchNorm everywhere except G's output and
D's input. No pooling, no fully connected hidden layers, no biases (a bias before
BatchNorm is redundant, and the authors' released models have none).

Options of ModelConfig reach beyond Figure 1 without a second model family: kernel and
padding, a per-layer stride and width schedule (D mirrors G's), BatchNorm of the projection
per channel or per unit, and the BatchNorm epsilon. The authors' released SVHN and
ImageNet-32 models are such configurations (dcgan.convert).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dcgan.config import ModelConfig, num_stages

__all__ = ["Discriminator", "Generator", "init_weights", "num_stages"]


def _resolved(config: ModelConfig | None, kwargs: dict) -> ModelConfig:
    """The config with channels fixed (3, Figure 1's RGB, when the data did not decide)."""
    config = config or ModelConfig(**kwargs)
    return config if config.channels else dataclasses.replace(config, channels=3)


class Generator(nn.Module):
    """z (N, nz) -> images (N, channels, size, size) in [-1, 1]."""

    def __init__(self, config: ModelConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = _resolved(config, kwargs)
        c = self.config
        widths = [c.ngf * m for m in c.layer_widths]
        self.base_channels = widths[0]  # 1024 at 64 px with ngf=128 (Figure 1)
        self.project = nn.Linear(c.nz, 4 * 4 * self.base_channels, bias=False)
        # Per 4x4 map (Figure 1's reading), or per unit as the authors' Theano code does.
        self.project_bn = (
            nn.BatchNorm2d(self.base_channels, eps=c.bn_eps)
            if c.proj_norm == "channel"
            else nn.BatchNorm1d(4 * 4 * self.base_channels, eps=c.bn_eps)
        )
        blocks: list[nn.Module] = []
        outs = [*widths[1:], c.channels]
        for i, (cin, cout, s) in enumerate(zip(widths, outs, c.layer_strides, strict=True)):
            # output_padding makes the side exactly s times larger (PyTorch's convention).
            conv = nn.ConvTranspose2d(
                cin, cout, c.kernel, s, c.pad, output_padding=s + 2 * c.pad - c.kernel, bias=False
            )
            if i == len(widths) - 1:
                blocks.append(nn.Sequential(conv, nn.Tanh()))
            else:
                blocks.append(
                    nn.Sequential(conv, nn.BatchNorm2d(cout, eps=c.bn_eps), nn.ReLU(inplace=True))
                )
        self.blocks = nn.ModuleList(blocks)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.intermediates(z)[-1]

    def intermediates(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Activations after the projection and after every conv layer; the last is the image."""
        h = self.project(z.flatten(1))
        if isinstance(self.project_bn, nn.BatchNorm1d):
            h = self.project_bn(h).view(-1, self.base_channels, 4, 4)
        else:
            h = self.project_bn(h.view(-1, self.base_channels, 4, 4))
        h = torch.relu(h)
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
        widths = [c.ndf * m for m in reversed(c.layer_widths)]
        ins = [c.channels, *widths[:-1]]
        blocks: list[nn.Module] = []
        for i, (cin, cout, s) in enumerate(
            zip(ins, widths, reversed(c.layer_strides), strict=True)
        ):
            conv = nn.Conv2d(cin, cout, c.kernel, s, c.pad, bias=False)
            if i == 0:
                blocks.append(nn.Sequential(conv, nn.LeakyReLU(0.2, True)))
            else:
                blocks.append(
                    nn.Sequential(
                        conv, nn.BatchNorm2d(cout, eps=c.bn_eps), nn.LeakyReLU(0.2, inplace=True)
                    )
                )
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(widths[-1] * 4 * 4, 1, bias=False)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1].flatten(1)).view(-1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every conv layer (after BatchNorm and LeakyReLU), input to output."""
        outs = []
        h = x
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        return outs


def init_weights(module: nn.Module) -> None:
    """Paper §4: all weights N(0, 0.02); BatchNorm gamma N(1, 0.02), beta 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
