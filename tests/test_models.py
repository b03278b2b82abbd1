"""Models of paper §3: shapes at every size, Figure 1 layer by layer, init statistics."""

import pytest
import torch
from torch import nn

from dcgan import DcganError, Discriminator, Generator, ModelConfig
from dcgan.config import ALLOWED_SIZES


@pytest.mark.parametrize("size", ALLOWED_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_every_size(size: int, channels: int) -> None:
    cfg = ModelConfig(size=size, channels=channels, ngf=8, ndf=8)
    g, d = Generator(cfg), Discriminator(cfg)
    z = torch.rand(2, cfg.nz) * 2 - 1
    x = g(z)
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1.0  # Tanh range
    assert d(x).shape == (2,)
    feats = d.features(x)
    assert feats[-1].shape[-2:] == (4, 4)
    assert [f.shape[-1] for f in feats] == [size // 2**i for i in range(1, len(feats) + 1)]


def test_figure1_layer_shapes() -> None:
    g = Generator(ModelConfig())  # the 64 px default
    shapes = [tuple(h.shape[1:]) for h in g.intermediates(torch.zeros(2, 100))]
    assert shapes == [(1024, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (3, 64, 64)]
    d = Discriminator(ModelConfig())
    shapes = [tuple(h.shape[1:]) for h in d.features(torch.zeros(2, 3, 64, 64))]
    assert shapes == [(128, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4)]


def test_guidelines_hold() -> None:
    """No pooling, BN everywhere except G's output and D's input, ReLU/Tanh in G, LReLU in D."""
    g, d = Generator(ModelConfig(size=32)), Discriminator(ModelConfig(size=32))
    for net in (g, d):
        assert not any(isinstance(m, nn.MaxPool2d | nn.AvgPool2d) for m in net.modules())
    g_layers = list(g.blocks)
    assert all(isinstance(b[1], nn.BatchNorm2d) for b in g_layers[:-1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g_layers[-1])
    assert isinstance(g_layers[-1][-1], nn.Tanh)
    assert all(isinstance(b[-1], nn.ReLU) for b in g_layers[:-1])
    d_layers = list(d.blocks)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d_layers[0])
    assert all(isinstance(b[1], nn.BatchNorm2d) for b in d_layers[1:])
    lrelus = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(lrelus) == len(d_layers) and all(m.negative_slope == 0.2 for m in lrelus)
    # Stride-2 (transposed) convs only.
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            assert m.stride == (2, 2)


def test_init_statistics() -> None:
    torch.manual_seed(0)
    g = Generator(ModelConfig())
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    beta = torch.cat([m.bias for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1.0) < 5e-3 and abs(gamma.std().item() - 0.02) < 5e-3
    assert torch.all(beta == 0)


@pytest.mark.parametrize("size", [0, 8, 48, 512])
def test_bad_size_is_clear_error(size: int) -> None:
    with pytest.raises(DcganError, match="16, 32, 64, 128, 256"):
        Generator(ModelConfig(size=size))


def test_bad_channels() -> None:
    with pytest.raises(DcganError, match="channels"):
        ModelConfig(channels=2)
