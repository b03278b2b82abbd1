"""Departures from the paper's recipe (off by default): split learning rates, one-sided
label smoothing; and numbered run directories claimed safely by concurrent runs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import train_tiny

from dcgan import Discriminator, Generator, ModelConfig
from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.rundir import new_run_dir
from dcgan.step import train_step

TINY = ModelConfig(size=16, channels=1, ngf=8, ndf=8)


def test_real_label_is_d_target_for_real_images_only() -> None:
    torch.manual_seed(0)
    g, d = Generator(TINY), Discriminator(TINY)
    real, z = torch.rand(8, 1, 16, 16) * 2 - 1, torch.rand(8, 100) * 2 - 1
    with torch.no_grad():
        lr, lf = d(real), d(g(z))
    want = F.binary_cross_entropy_with_logits(
        lr, torch.full_like(lr, 0.9)
    ) + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    opt_g = torch.optim.Adam(g.parameters())
    opt_d = torch.optim.Adam(d.parameters())
    stats = train_step(g, d, opt_g, opt_d, real, z, contextlib.nullcontext(), real_label=0.9)
    torch.testing.assert_close(stats[0], want)
    paper = F.binary_cross_entropy_with_logits(
        lr, torch.ones_like(lr)
    ) + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    assert abs(float(stats[0] - paper)) > 1e-3


def weights(state: dict) -> dict:
    """Parameters only: BatchNorm's running statistics move even at learning rate 0."""
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


def test_lr_d_and_lr_g_drive_their_own_optimizer(tmp_path: Path) -> None:
    frozen = load_checkpoint(train_tiny(tmp_path / "a", steps=2, lr_d=0.0, lr_g=0.0))
    g_only = load_checkpoint(train_tiny(tmp_path / "b", steps=2, lr_d=0.0))
    for k, v in weights(frozen["D"]).items():
        assert torch.equal(v, g_only["D"][k]), f"D.{k} moved at lr_d=0"
    moved = [k for k, v in weights(frozen["G"]).items() if not torch.equal(v, g_only["G"][k])]
    assert moved, "G did not move at the default lr"
    assert frozen["config"]["lr_d"] == 0.0


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--real-label", "1.5", "--real-label must be in (0.5, 1], got 1.5"),
        ("--real-label", "0.3", "--real-label must be in (0.5, 1]"),
        ("--lr", "-1", "--lr must be non-negative"),
        ("--lr-d", "-1e-4", "--lr-d must be non-negative"),
        ("--lr-g", "nan", "--lr-g must be non-negative, got nan"),
        ("--beta1", "1.5", "--beta1 must be in [0, 1)"),
    ],
)
def test_bad_recipe_is_one_line(tmp_path: Path, flag: str, value: str, needle: str, capsys) -> None:
    args = ["train", f"{flag}={value}", "--steps", "1", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not list(tmp_path.iterdir())  # nothing started


def test_concurrent_runs_never_share_a_directory(tmp_path: Path, monkeypatch) -> None:
    first = new_run_dir(tmp_path, "mnist32")
    # A second process that listed the folder before the first claimed its number.
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(()))
    second = new_run_dir(tmp_path, "mnist32")
    assert first.name == "00000-mnist32" and second.name == "00001-mnist32"
