"""`visualize` (paper §6.2): guided backprop of D's last-layer features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import train_tiny
from PIL import Image
from torch import nn

from dcgan import DcganError
from dcgan.cli import main
from dcgan.experiments.visualize import (
    GuidedBackprop,
    focus,
    guided_gradients,
    random_discriminator,
    top_channels,
    visualize,
)
from dcgan.sampling import load


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 16 px grey model trained for 2 steps on the real digits."""
    return train_tiny(tmp_path_factory.mktemp("visualize"), steps=2)


def _net(rectifier: nn.Module, w2: list[float]) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(2, 2, bias=False), rectifier, nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[2].weight.copy_(torch.tensor([w2]))
    return net


def _grad(net: nn.Module, x: list[float], guided: bool) -> list[float]:
    x = torch.tensor([x], requires_grad=True)
    if guided:
        with GuidedBackprop(net):
            net(x).sum().backward()
    else:
        net(x).sum().backward()
    return x.grad[0].tolist()


def test_guided_rule_by_hand() -> None:
    """ReLU: the negative gradient is cut; LeakyReLU: its 0.2 slope is cut too."""
    relu = _net(nn.ReLU(inplace=True), [-1.0, 2.0])
    assert _grad(relu, [1.0, 2.0], guided=False) == [-1.0, 2.0]
    assert _grad(relu, [1.0, 2.0], guided=True) == [0.0, 2.0]
    leaky = _net(nn.LeakyReLU(0.2, inplace=True), [1.0, 1.0])
    assert _grad(leaky, [1.0, -2.0], guided=False) == pytest.approx([1.0, 0.2])
    assert _grad(leaky, [1.0, -2.0], guided=True) == [1.0, 0.0]
    assert leaky[1].inplace and not leaky[1]._backward_hooks and not leaky[1]._forward_hooks


def _digits(run: Path, n: int) -> torch.Tensor:
    """The first n real digits, from the cache the run was trained from."""
    from dcgan.data.packed import resolve_data

    data = resolve_data("digits", 16, 1, progress=False, cache=run.parents[1] / "cache").images
    return torch.from_numpy(data[:n].copy()).float() / 127.5 - 1


def test_gradient_into_every_rectifier_follows_the_rule(tiny: Path) -> None:
    """Observe what each LeakyReLU of D passes back: >= 0, and 0 where its input was <= 0."""
    d = load(tiny).discriminator
    x = _digits(tiny, 4).requires_grad_(True)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    with GuidedBackprop(d) as gb:
        observers = [
            m.register_full_backward_hook(
                lambda m, gi, go: seen.append((gi[0].detach(), gb.inputs[m]))
            )
            for m in gb.rectifiers
        ]
        d.features(x)[-1][:, 3].flatten(1).amax(1).sum().backward()
        for h in observers:
            h.remove()
    assert len(seen) == len(gb.rectifiers) == len(d.blocks)
    for grad, inp in seen:
        assert (grad >= 0).all() and (grad[inp <= 0] == 0).all() and (grad > 0).any()
    assert x.grad.abs().sum() > 0


def test_guided_gradients_shapes_and_difference_from_plain(tiny: Path) -> None:
    d = load(tiny).discriminator
    x = _digits(tiny, 3)
    channels = top_channels(d, x, 2)
    assert len(channels) == 2 and len(set(channels)) == 2
    g = guided_gradients(d, x, channels)
    assert g.shape == (3, 2, 1, 16, 16)
    plain = x.clone().requires_grad_(True)
    d.features(plain)[-1][:, channels[0]].flatten(1).amax(1).sum().backward()
    assert not torch.allclose(g[:, 0], plain.grad)
    assert not d.blocks[0][1]._backward_hooks  # D itself is left alone
    flat, spot = torch.ones(1, 1, 1, 16, 16), torch.zeros(1, 1, 1, 16, 16)
    spot[..., 3, 5] = -2.0
    assert focus(flat) == pytest.approx(26 / 256) and focus(spot) == pytest.approx(1.0)


def test_random_discriminator_is_seeded_and_normalised(tiny: Path) -> None:
    model = load(tiny)
    x = _digits(tiny, 8)
    a, b = random_discriminator(model, x, 0), random_discriminator(model, x, 0)
    torch.testing.assert_close(a.blocks[0][0].weight, b.blocks[0][0].weight)
    assert not torch.equal(a.blocks[0][0].weight, model.discriminator.blocks[0][0].weight)
    with torch.no_grad():
        pre = a.blocks[1][1](a.blocks[1][0](a.blocks[0](x)))  # after D's first BatchNorm
    assert pre.mean(dim=(0, 2, 3)).abs().max() < 1e-4


def test_visualize_writes_figure_and_json(tiny: Path, tmp_path: Path) -> None:
    v = visualize(load(tiny), "digits", images=3, top_channels=2, cache=tmp_path)
    assert set(v.grads) == {"trained", "random"}
    assert all(g.shape == (3, 2, 1, 16, 16) for g in v.grads.values())
    png, record = v.save(tmp_path / "v")
    assert png.name == "visualize.png"
    assert Image.open(png).width > 2 * 3 * 16 and Image.open(png).height >= 3 * 16
    saved = json.loads(record.read_text())
    assert saved["channels"] == v.channels and set(saved["focus_top10"]) == {"trained", "random"}


def test_visualize_chosen_channels_and_bad_input(tiny: Path, tmp_path: Path, capsys) -> None:
    model = load(tiny)
    width = model.discriminator.blocks[-1][0].out_channels
    v = visualize(model, "digits", images=2, d_channels=[0, 5], cache=tmp_path)
    assert v.channels == {"trained": [0, 5], "random": [0, 5]}
    with pytest.raises(DcganError, match=f"channels 0..{width - 1}"):
        visualize(model, "digits", images=2, d_channels=[width], cache=tmp_path)
    args = ["visualize", str(tiny), "--data", "digits", "--cache", str(tmp_path)]
    assert main([*args, "--images", "100000", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--images must be in 1..1024" in err
    assert (
        main([*args, "--images", "2", "--top-channels", "1", "--out", str(tmp_path / "ok.png")])
        == 0
    )
    assert (tmp_path / "ok.png").exists() and (tmp_path / "ok.json").exists()
