"""pytorch/examples and PyTorch-tutorial checkpoints, both ways (dcgan.torch_examples).

The proof is an in-test copy of the pytorch/examples dcgan/main.py classes (generalised from
64 px to any number of stride-2 stages), given random weights and BatchNorm statistics: the
converted G and D must give the same outputs in both BatchNorm modes.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from conftest import SHARED, train_tiny
from torch import nn

from dcgan import DcganError
from dcgan.cli import main
from dcgan.sampling import load, sample, z_from_seeds
from dcgan.torch_examples import convert_examples, read_examples

TOL = 1e-5
DIGIFACE = SHARED / "pretrained" / "digiface64_dcgan" / "weights.tar"


class ExamplesGenerator(nn.Module):
    """pytorch/examples dcgan/main.py's Generator, with `stages` stride-2 layers (4 at 64 px)."""

    def __init__(self, nz: int, ngf: int, nc: int, stages: int) -> None:
        super().__init__()
        mult = 2 ** (stages - 1)
        layers = [
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
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ExamplesDiscriminator(nn.Module):
    """pytorch/examples dcgan/main.py's Discriminator, with `stages` stride-2 layers."""

    def __init__(self, ndf: int, nc: int, stages: int) -> None:
        super().__init__()
        layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for _ in range(stages - 1):
            layers += [
                nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * mult * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            mult *= 2
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Random weights and BatchNorm statistics far from the defaults, so a mapping that drops
    or mixes up any of them shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.3 * torch.randn(c, generator=g))
                m.bias.copy_(0.3 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.5 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.num_batches_tracked.fill_(123)
    return net


def max_diff(theirs: nn.Module, ours: nn.Module, x: torch.Tensor, train: bool) -> float:
    theirs.train(train)
    ours.train(train)
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    return float((a - b).abs().max())


CASES = [(32, 1, 8), (32, 3, 8), (64, 1, 8), (64, 3, 8), (128, 1, 4), (128, 3, 4)]


@pytest.mark.parametrize(("size", "nc", "width"), CASES)
def test_converted_g_and_d_match_the_examples_in_both_bn_modes(size, nc, width, tmp_path):
    stages = {32: 3, 64: 4, 128: 5}[size]
    netg = randomise(ExamplesGenerator(16, width, nc, stages), size + nc)
    netd = randomise(ExamplesDiscriminator(width * 2, nc, stages), size * nc)
    torch.save(netg.state_dict(), tmp_path / "netG_epoch_24.pth")
    torch.save(netd.state_dict(), tmp_path / "netD_epoch_24.pth")
    out = tmp_path / "model.pt"
    args = ["convert", str(tmp_path / "netG_epoch_24.pth"), "--out", str(out)]
    assert main([*args, "--d", str(tmp_path / "netD_epoch_24.pth")]) == 0
    model = load(out)
    m = model.config.model
    assert (m.size, m.channels, m.nz, m.ngf, m.ndf) == (size, nc, 16, width, width * 2)
    assert model.config.z_dist == "normal"
    z = torch.randn(6, 16)
    x = torch.rand(6, nc, size, size) * 2 - 1
    ours_d = nn.Sequential(model.discriminator, nn.Sigmoid())  # ours gives the logit
    for train in (True, False):
        assert max_diff(netg, model.generator, z.view(6, 16, 1, 1), train) <= TOL
        assert max_diff(netd, ours_d, x, train) <= TOL


def test_tutorial_dict_dataparallel_and_cuda_saved(tmp_path, monkeypatch):
    netg = randomise(ExamplesGenerator(10, 4, 3, 3), 1)
    netd = randomise(ExamplesDiscriminator(4, 3, 3), 2)
    opt = torch.optim.Adam(netg.parameters())
    netg(torch.randn(2, 10, 1, 1)).sum().backward()
    opt.step()
    state = {
        "epoch": 5,
        "netG_state_dict": {f"module.{k}": v for k, v in netg.state_dict().items()},
        "netD_state_dict": netd.state_dict(),
        "optimizerG_state_dict": opt.state_dict(),
        "loss": 0.5,
    }
    # Record every tensor as saved on cuda:0, as a GPU run writes them: reading must map
    # them to the CPU (loading without that fails on a machine without CUDA).
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save(state, tmp_path / "ckpt.tar")
    monkeypatch.undo()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "ckpt.tar", weights_only=True)
    got = convert_examples(tmp_path / "ckpt.tar", tmp_path / "m.pt")
    assert got.discriminator is not None
    model = load(tmp_path / "m.pt")
    z = torch.randn(4, 10)
    assert max_diff(netg, model.generator, z.view(4, 10, 1, 1), False) <= TOL
    x = torch.rand(4, 3, 32, 32)
    assert max_diff(netd, nn.Sequential(model.discriminator, nn.Sigmoid()), x, False) <= TOL
    with pytest.raises(DcganError, match="leave out --d"):
        convert_examples(tmp_path / "ckpt.tar", tmp_path / "x.pt", d=tmp_path / "ckpt.tar")


class _Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_bad_files_are_one_line_errors_and_never_run_code(tmp_path, capsys):
    netg = randomise(ExamplesGenerator(8, 4, 1, 3), 3)
    netd = randomise(ExamplesDiscriminator(4, 1, 3), 4)
    torch.save(netd.state_dict(), tmp_path / "netD.pth")
    (tmp_path / "trap.pth").write_bytes(pickle.dumps({"x": _Trap(tmp_path / "ran")}))
    torch.save(
        {"main.0.weight": torch.zeros(8, 4, 4, 4), "main.0.bias": torch.zeros(4)},
        tmp_path / "bias.pth",
    )
    torch.save(netg.state_dict(), tmp_path / "netG.pth")
    other = randomise(ExamplesDiscriminator(4, 3, 3), 5)  # D of 3 channels, G makes 1
    torch.save(other.state_dict(), tmp_path / "netD3.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    cases = [
        (["netD.pth"], "is a discriminator"),
        (["trap.pth"], "not a readable checkpoint"),
        (["bias.pth"], "has a bias"),
        (["netG.pth", "--d", "netD3.pth"], "D must mirror"),
        (["text.pth"], "not a readable checkpoint"),
        (["missing.pth"], "not found"),
    ]
    for args, needle in cases:
        paths = [str(tmp_path / a) if a.endswith(".pth") else a for a in args]
        assert main(["convert", *paths, "--out", str(tmp_path / "o.pt")]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "o.pt").exists()


@pytest.fixture(scope="module")
def g_only(tmp_path_factory) -> Path:
    """A model trained here (32 px grey), exported to pytorch-examples and converted back:
    a G-only checkpoint."""
    tmp = tmp_path_factory.mktemp("gonly")
    run = train_tiny(tmp, 32, steps=2)
    (tmp / "run.txt").write_text(str(run))
    assert (
        main(["export", str(run), "--out-format", "pytorch-examples", "--out", str(tmp / "g.pth")])
        == 0
    )
    assert main(["convert", str(tmp / "g.pth"), "--out", str(tmp / "g.pt")]) == 0
    return tmp / "g.pt"


def test_export_loads_into_the_tutorial_generator(g_only, tmp_path):
    run = (g_only.parent / "run.txt").read_text()
    out = tmp_path / "netG.pth"
    assert main(["export", str(run), "--out-format", "pytorch-examples", "--out", str(out)]) == 0
    net = ExamplesGenerator(100, 8, 1, 3)
    net.load_state_dict(torch.load(out, weights_only=True))  # strict keys
    seeds = list(range(8))
    z = z_from_seeds(seeds, 100, "uniform")
    with torch.no_grad():
        theirs = net.eval()(z.view(8, 100, 1, 1))
    # BatchNorm is frozen at the reference batch's statistics: `dcgan sample --bn batch`.
    ours = sample(load(run), seeds=seeds, bn="batch")
    assert float((theirs - ours).abs().max()) <= TOL
    # ... and the converted-back G-only model gives the same images again.
    back = load(g_only)
    assert back.discriminator is None
    again = sample(back.generator, seeds=seeds, bn="running", z_dist="uniform")
    assert float((again - ours).abs().max()) <= TOL


def test_export_refuses_other_layouts(tmp_path, capsys):
    from dcgan import ModelConfig

    run = train_tiny(
        tmp_path,
        16,
        steps=1,
        model=ModelConfig(size=16, channels=1, ngf=8, ndf=8, kernel=5, padding=2),
    )
    assert (
        main(
            [
                "export",
                str(run),
                "--out-format",
                "pytorch-examples",
                "--out",
                str(tmp_path / "g.pth"),
            ]
        )
        == 2
    )
    assert "pytorch/examples layout" in capsys.readouterr().err
    assert not (tmp_path / "g.pth").exists()


def test_g_only_model_runs_every_g_verb_and_d_verbs_say_why_not(g_only, tmp_path, capsys):
    ck = str(g_only)
    cache = str(g_only.parent / "cache")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({str(s): [[8, 8, 20, 20]] for s in range(6)}))
    ok = [
        ["sample", ck, "--n", "4", "--out", str(tmp_path / "s.png")],
        [
            "interpolate",
            ck,
            "--points",
            "3",
            "--segment-steps",
            "2",
            "--out",
            str(tmp_path / "i.png"),
        ],
        ["sheet", ck, "--n", "6", "--out", str(tmp_path / "sh.png")],
        [
            "arithmetic",
            ck,
            "A-B+C",
            "--A",
            "1-3",
            "--B",
            "4-6",
            "--C",
            "7-9",
            "--out",
            str(tmp_path / "a.png"),
        ],
        [
            "forget",
            ck,
            "--boxes",
            str(boxes),
            "--test-n",
            "0",
            "--show",
            "2",
            "--out",
            str(tmp_path / "f.png"),
        ],
        ["export", ck, "--out-format", "safetensors", "--out", str(tmp_path / "g.safetensors")],
        [
            "evaluate",
            ck,
            "--data",
            "digits",
            "--extractor",
            "mnist",
            "--metrics",
            "fid",
            "--n",
            "32",
            "--cache",
            cache,
        ],
    ]
    for args in ok:
        assert main(args) == 0, args
    assert (tmp_path / "f.png").is_file() and (tmp_path / "a.png").is_file()
    from dcgan.explore import Engine

    engine = Engine(g_only)
    assert len(engine.samples({"seeds": [0, 1]})["images"]) == 2
    needs_d = [
        ["classify", ck, "--data", "digits"],
        ["visualize", ck, "--data", "digits", "--out", str(tmp_path / "v.png")],
        ["neighbors", ck, "--data", "digits", "--out", str(tmp_path / "n.png")],
        ["train", "--resume", ck],
    ]
    for args in needs_d:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("discriminator" in err or "generator only" in err), err


@pytest.fixture
def digiface(shared) -> Path:
    if not DIGIFACE.is_file():
        pytest.skip(f"{DIGIFACE} is absent")
    return DIGIFACE


def test_digiface_converts_exactly(digiface, tmp_path):
    netg = ExamplesGenerator(100, 64, 3, 4)
    raw = torch.load(digiface, weights_only=True, map_location="cpu")["netG_state_dict"]
    netg.load_state_dict(raw)
    got = read_examples(digiface)
    m = got.config.model
    assert (m.size, m.channels, m.nz, m.ngf, got.discriminator) == (64, 3, 100, 64, None)
    z = torch.randn(8, 100, generator=torch.Generator().manual_seed(0))
    for train in (True, False):
        assert max_diff(netg, got.generator, z.view(8, 100, 1, 1), train) <= TOL
    assert main(["convert", str(digiface), "--out", str(tmp_path / "d.pt")]) == 0
    images = sample(load(tmp_path / "d.pt"), n=8, bn="running")
    assert images.shape == (8, 3, 64, 64) and float(images.std()) > 0.2
    # Its faces are sharp enough for the profile cascade: `turn` runs on this G-only model.
    args = ["turn", str(tmp_path / "d.pt"), "--pool", "200", "--rows", "2", "--frames", "3"]
    assert main([*args, "--bn", "running", "--out", str(tmp_path / "turn.png")]) == 0
    assert (tmp_path / "turn.png").is_file()
