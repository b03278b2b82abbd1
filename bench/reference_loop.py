"""pytorch/examples `dcgan/main.py`, re-implemented faithfully for the speed benches: its
netG/netD (transposed convs from a 1x1 z, a 4x4 conv + Sigmoid head, BatchNorm, no biases),
BCELoss, and its step (D on real, backward; G; D on fake, backward; Adam; then G's step with
D's weight gradients computed and discarded), NCHW, eager. `from_dcgan` copies the weights
of dcgan's models into it, so both start equal and can be compared after a few steps."""

from __future__ import annotations

import torch
from torch import nn

from dcgan.models import Discriminator, Generator


def ref_generator(nz: int, ngf: int, nc: int, stages: int) -> nn.Sequential:
    mult = 2 ** (stages - 1)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * mult),
        nn.ReLU(True),
    ]
    while mult > 1:
        layers += [
            nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * mult // 2),
            nn.ReLU(True),
        ]
        mult //= 2
    return nn.Sequential(*layers, nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def ref_discriminator(ndf: int, nc: int, stages: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    mult = 1
    for _ in range(stages - 1):
        layers += [
            nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * mult * 2),
            nn.LeakyReLU(0.2, True),
        ]
        mult *= 2
    return nn.Sequential(*layers, nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def ref_step(netG, netD, optG, optD, real: torch.Tensor, noise: torch.Tensor) -> None:  # noqa: N803
    """One iteration of main.py's loop, line for line."""
    criterion = nn.BCELoss()
    b = real.size(0)
    netD.zero_grad()
    label = torch.full((b,), 1.0, device=real.device)
    output = netD(real).view(-1)
    criterion(output, label).backward()
    fake = netG(noise.view(b, -1, 1, 1))
    label.fill_(0.0)
    output = netD(fake.detach()).view(-1)
    criterion(output, label).backward()
    optD.step()
    netG.zero_grad()
    label.fill_(1.0)
    output = netD(fake).view(-1)
    criterion(output, label).backward()
    optG.step()


def _layers(module: nn.Module, kinds: tuple) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kinds)]


def weights_as_reference(g: Generator, d: Discriminator) -> tuple[list, list]:
    """dcgan's G and D weights in the reference's layout: (G tensors, D tensors), in order.
    G's projection is a transposed conv of a 1x1 z; D's linear head a 4x4 conv."""
    nz, c0 = g.project.in_features, g.base_channels
    gw = [g.project.weight.detach().t().reshape(nz, c0, 4, 4)]
    gw += [m.weight.detach() for m in _layers(g.blocks, (nn.ConvTranspose2d,))]
    dw = [m.weight.detach() for m in _layers(d.blocks, (nn.Conv2d,))]
    dw.append(d.head.weight.detach().reshape(1, -1, 4, 4))
    bn = (nn.BatchNorm2d,)
    gw += [t.detach() for m in _layers(g, bn) for t in (m.weight, m.bias)]
    dw += [t.detach() for m in _layers(d, bn) for t in (m.weight, m.bias)]
    return gw, dw


def reference_weights(netG: nn.Module, netD: nn.Module) -> tuple[list, list]:  # noqa: N803
    conv, bn = (nn.Conv2d, nn.ConvTranspose2d), (nn.BatchNorm2d,)
    gw = [m.weight.detach() for m in _layers(netG, conv)]
    dw = [m.weight.detach() for m in _layers(netD, conv)]
    gw += [t.detach() for m in _layers(netG, bn) for t in (m.weight, m.bias)]
    dw += [t.detach() for m in _layers(netD, bn) for t in (m.weight, m.bias)]
    return gw, dw


@torch.no_grad()
def from_dcgan(g: Generator, d: Discriminator) -> tuple[nn.Sequential, nn.Sequential]:
    """The reference netG, netD holding exactly the weights of dcgan's G and D."""
    c = g.config
    stages = len(c.layer_strides)
    netG = ref_generator(c.nz, c.ngf, c.channels, stages)  # noqa: N806
    netD = ref_discriminator(c.ndf, c.channels, stages)  # noqa: N806
    for dst, src in zip(
        [*reference_weights(netG, netD)[0], *reference_weights(netG, netD)[1]],
        [*weights_as_reference(g, d)[0], *weights_as_reference(g, d)[1]],
        strict=True,
    ):
        dst.copy_(src)
    return netG, netD
