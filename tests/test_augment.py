"""Differentiable augmentation of D's inputs (issue 31): DiffAugment's transforms, ADA's
adaptive p, and training with them: resume stays bit-exact and keeps the run's setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_training import assert_states_equal, tiny_config

import dcgan.augment
from dcgan import DcganError, TrainConfig
from dcgan.augment import ADA_INTERVAL, Augment, cutout, translation
from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.training import train

pytestmark = pytest.mark.usefixtures("one_thread")


def batch(n: int = 8, c: int = 3, side: int = 16) -> torch.Tensor:
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_translation_moves_pixels_and_shifts_in_zeros() -> None:
    x = batch(2, 1, 8)
    y = translation(x, torch.tensor([[1, 0], [0, -2]]))
    assert torch.equal(y[0, :, :-1], x[0, :, 1:]) and (y[0, :, -1] == 0).all()
    assert torch.equal(y[1, :, :, 2:], x[1, :, :, :-2]) and (y[1, :, :, :2] == 0).all()


def test_cutout_blanks_a_square_of_half_the_side() -> None:
    x = batch(2, 3, 16) + 5  # no pixel is 0 before
    y = cutout(x, torch.tensor([[8, 8], [0, 0]]))
    assert int((y[0, 0] == 0).sum()) == 8 * 8  # inside the image: the whole square
    assert int((y[1, 0] == 0).sum()) == 4 * 4  # at a corner: clipped
    assert torch.equal(y[0, :, :4], x[0, :, :4])


@pytest.mark.parametrize("kind", ["diffaugment", "ada"])
def test_augment_is_differentiable_and_keeps_shape(kind: str) -> None:
    aug = Augment(kind, seed=0)
    aug.p = 0.5
    x = batch().requires_grad_(True)
    y = aug(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_ada_at_p0_is_identity_and_at_p1_is_diffaugment() -> None:
    x = batch()
    ada = Augment("ada", seed=3)
    assert ada.p == 0 and torch.equal(ada(x), x)
    ada, diff = Augment("ada", seed=3), Augment("diffaugment", seed=3)
    ada.p = 1.0
    assert torch.equal(ada(x), diff(x))  # the same stream of parameters, every transform on


def test_ada_p_follows_the_overfitting_signal(monkeypatch) -> None:
    monkeypatch.setattr(dcgan.augment, "ADA_IMAGES", 1000)
    ada = Augment("ada", seed=0)
    for _ in range(ADA_INTERVAL - 1):
        ada.observe(1.0, 50)  # D calls every real image real: r_t = 1 > 0.6
    assert ada.p == 0  # adjusted only every ADA_INTERVAL steps
    ada.observe(1.0, 50)
    assert ada.p == pytest.approx(200 / 1000)
    for _ in range(ADA_INTERVAL):
        ada.observe(0.5, 50)  # r_t = 0 < 0.6: p falls back
    assert ada.p == pytest.approx(0.0)
    for _ in range(ADA_INTERVAL):
        ada.observe(0.0, 50)
    assert ada.p == 0.0  # never below 0
    diff = Augment("diffaugment", seed=0)
    diff.observe(1.0, 50)
    assert diff.p == 1.0  # DiffAugment: always on


@pytest.mark.parametrize("kind", ["diffaugment", "ada"])
def test_resume_with_augmentation_is_bit_identical(tmp_path: Path, monkeypatch, kind) -> None:
    monkeypatch.setattr(dcgan.augment, "ADA_IMAGES", 500)  # so that p moves in 8 steps
    kw = dict(steps=8, checkpoint_every=3, augment=kind)
    full = train(tiny_config(tmp_path / "a", **kw))
    part = train(tiny_config(tmp_path / "b", **{**kw, "steps": 5}))
    (part.run_dir / "latest.pt").unlink()  # back to step 3: mid-way through ADA's interval
    (part.run_dir / "ckpt-00000005.pt").unlink()
    resumed = train(TrainConfig(steps=8, progress=False), resume=part.run_dir)
    a, b = load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir)
    assert_states_equal(a, b)
    assert a["augment"]["p"] == b["augment"]["p"] and a["augment"]["ada"] == b["augment"]["ada"]
    assert torch.equal(a["augment"]["rng"], b["augment"]["rng"])
    assert json.loads((resumed.run_dir / "config.json").read_text())["augment"] == kind
    rows = [json.loads(x) for x in (full.run_dir / "stats.jsonl").read_text().splitlines()]
    ps = [r["augment_p"] for r in rows]
    assert len(ps) == 8 and ps[-1] == a["augment"]["p"]
    if kind == "ada":
        assert len(set(ps)) > 1  # p moved, and the log shows it
    else:
        assert set(ps) == {1.0}


def test_augmentation_changes_training_and_none_is_the_default(tmp_path: Path) -> None:
    assert TrainConfig().augment == "none"
    plain = load_checkpoint(train(tiny_config(tmp_path / "a", steps=2)).run_dir)
    aug = load_checkpoint(
        train(tiny_config(tmp_path / "b", steps=2, augment="diffaugment")).run_dir
    )
    assert plain["augment"] is None
    assert not torch.equal(plain["D"]["head.weight"], aug["D"]["head.weight"])


def test_resume_refuses_another_augment(tmp_path: Path, capsys) -> None:
    run = train(tiny_config(tmp_path, steps=2, augment="diffaugment")).run_dir
    with pytest.raises(DcganError, match=r"^augment ada: cannot change on resume"):
        train(TrainConfig(steps=4, augment="ada", progress=False), resume=run)
    # Typed on the command line, even the default is a change the run refuses.
    assert main(["train", "--resume", str(run), "--augment", "none", "--steps", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--augment none: cannot change on --resume" in err and len(err.splitlines()) == 1


def test_cli_bad_augment_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train", "--augment", "flip"])
    assert e.value.code == 2
    assert "--augment" in capsys.readouterr().err
