"""The training loop: outputs, exact resume, atomic checkpoints, signals, NaN guard, flags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import dcgan.checkpoint
import dcgan.training
from dcgan import DcganError, ModelConfig, TrainConfig
from dcgan.checkpoint import load_checkpoint
from dcgan.sampling import load
from dcgan.training import TrainingDiverged, train

TINY = ModelConfig(size=16, channels=1, ngf=8, ndf=8)


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        data="digits",
        out=str(tmp_path / "runs"),
        model=TINY,
        batch_size=32,
        steps=6,
        log_every=1,
        sample_every=3,
        checkpoint_every=3,
        cache=str(tmp_path / "cache"),
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def assert_states_equal(a: dict, b: dict) -> None:
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs"
    for opt in ("opt_G", "opt_D"):
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), f"{opt}[{i}].{k} differs"


def test_run_writes_everything(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path, ema=0.9))
    run = result.run_dir
    assert run.name == "00000-digits16" and result.step == 6
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["channels"] == 1 and cfg["lr"] == 2e-4
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert {"epoch", "loss_D", "loss_G", "D_x", "D_G_z", "img_s", "time"} <= rows[0].keys()
    assert (run / "samples.png").is_file() and (run / "samples" / "step-00000003.png").is_file()
    assert (run / "losses.png").is_file()
    assert any((run / "tensorboard").iterdir())
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 6 and ckpt["G_ema"] is not None
    assert not torch.equal(ckpt["G_ema"]["project.weight"], ckpt["G"]["project.weight"])
    # A second run gets the next number, never overwriting the first.
    assert train(tiny_config(tmp_path, steps=1)).run_dir.name == "00001-digits16"


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    full = train(tiny_config(tmp_path / "a", steps=8, checkpoint_every=4, ema=0.9))
    part = train(tiny_config(tmp_path / "b", steps=5, checkpoint_every=4, ema=0.9))
    # Resume from the step-4 checkpoint, as after a kill between checkpoints.
    (part.run_dir / "latest.pt").unlink()
    (part.run_dir / "ckpt-00000005.pt").unlink()
    resumed = train(TrainConfig(steps=8, progress=False), resume=part.run_dir)
    assert resumed.run_dir == part.run_dir and resumed.step == 8
    a, b = load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir)
    assert_states_equal(a, b)
    assert all(torch.equal(a["G_ema"][k], b["G_ema"][k]) for k in a["G_ema"])
    # The log was cut back to the checkpoint and continued: no duplicate steps.
    steps = [json.loads(x)["step"] for x in (part.run_dir / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_checkpoint_minutes_saves_between_step_checkpoints(tmp_path: Path) -> None:
    """A clock that is always due saves after every step; 0 leaves only the step rule and
    the final save. The saved steps resume like any other (bit-identical)."""
    kw = dict(steps=5, checkpoint_every=1000, keep=10)
    clocked = train(tiny_config(tmp_path / "a", checkpoint_minutes=1e-9, **kw))
    steps_only = train(tiny_config(tmp_path / "b", checkpoint_minutes=0, **kw))
    saved = sorted(dcgan.checkpoint.step_of(p) for p in clocked.run_dir.glob("ckpt-*.pt"))
    assert saved == [1, 2, 3, 4, 5]
    assert [p.name for p in steps_only.run_dir.glob("ckpt-*.pt")] == ["ckpt-00000005.pt"]
    assert_states_equal(load_checkpoint(clocked.run_dir), load_checkpoint(steps_only.run_dir))
    # A resume keeps the run's clock unless it is given again.
    resumed = train(TrainConfig(steps=7, progress=False), resume=clocked.run_dir)
    assert resumed.step == 7 and (clocked.run_dir / "ckpt-00000006.pt").is_file()
    config = json.loads((clocked.run_dir / "config.json").read_text())
    assert config["checkpoint_minutes"] == 1e-9


def test_out_that_is_a_run_is_refused_without_resume(tmp_path: Path) -> None:
    """Was a silent resume in the API (the CLI refused it): both refuse it now."""
    first = train(tiny_config(tmp_path, steps=3))
    with pytest.raises(DcganError, match="out .* is a run directory: continue it with resume="):
        train(tiny_config(tmp_path, steps=5, out=str(first.run_dir)))
    assert load_checkpoint(first.run_dir)["step"] == 3


def test_interrupted_checkpoint_write_keeps_previous(tmp_path: Path, monkeypatch) -> None:
    result = train(tiny_config(tmp_path, steps=3))
    before = load_checkpoint(result.run_dir)

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dcgan.checkpoint.torch, "save", broken_save)
    with pytest.raises(DcganError, match="No space left on device.*latest.pt is kept"):
        train(tiny_config(tmp_path, steps=6), resume=result.run_dir)
    monkeypatch.undo()
    after = load_checkpoint(result.run_dir)
    assert after["step"] == 3 and torch.equal(
        after["G"]["project.weight"], before["G"]["project.weight"]
    )
    assert not list(result.run_dir.glob(".*.tmp"))


def test_nan_guard_keeps_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    real_step = dcgan.training.train_step
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        out = real_step(*args)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(dcgan.training, "train_step", poisoned)
    with pytest.raises(TrainingDiverged, match="step 5"):
        train(tiny_config(tmp_path, steps=10, checkpoint_every=2))
    run = next((tmp_path / "runs").iterdir())
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["G"].values() if v.is_floating_point())


def test_wrong_architecture_checkpoint_is_clear_error(tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path, steps=1)).run_dir
    ckpt = load_checkpoint(run)
    ckpt["config"]["model"]["ngf"] = 16
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(DcganError, match="does not match"):
        load(bad)


def test_channels_last_matches(tmp_path: Path) -> None:
    # channels_last is the default; NCHW must give the same weights up to float rounding.
    a = load_checkpoint(train(tiny_config(tmp_path / "a", steps=3, channels_last=False)).run_dir)
    b = load_checkpoint(train(tiny_config(tmp_path / "b", steps=3)).run_dir)
    for k in a["G"]:
        torch.testing.assert_close(a["G"][k], b["G"][k].contiguous(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(os.environ.get("DCGAN_SKIP_COMPILE") == "1", reason="DCGAN_SKIP_COMPILE=1")
def test_compile_matches(tmp_path: Path, monkeypatch) -> None:
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # The machine's usual kernel cache: a warm cache keeps this test fast.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    a = load_checkpoint(train(tiny_config(tmp_path / "a", steps=2, precision="fp32")).run_dir)
    compiled = tiny_config(tmp_path / "b", steps=2, compile=True, precision="fp32")
    b = load_checkpoint(train(compiled).run_dir)
    for k in a["G"]:
        torch.testing.assert_close(a["G"][k], b["G"][k], rtol=1e-3, atol=1e-4)


def test_compile_caches_kernels_beside_the_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    dcgan.training.Trainer(tiny_config(tmp_path, compile=True))  # compiles lazily: cheap
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(
        (tmp_path / "cache" / "inductor").absolute()
    )


def test_bf16_autocast_on_cpu_trains(tmp_path: Path) -> None:
    a = load_checkpoint(train(tiny_config(tmp_path / "a", steps=2, precision="fp32")).run_dir)
    b = load_checkpoint(train(tiny_config(tmp_path / "b", steps=2, precision="bf16")).run_dir)
    for k, v in b["G"].items():  # fp32 weights, bf16 math: close, not equal
        assert v.dtype == a["G"][k].dtype
        torch.testing.assert_close(a["G"][k], v, rtol=0.05, atol=0.01)


def test_ema_decay_warms_up() -> None:
    from dcgan.training import ema_decay

    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.999, 100_000) == 0.999


def test_one_tensorboard_event_file_per_session_and_it_is_complete(tmp_path: Path) -> None:
    """The writer was closed before the final grid, which opened a second event file that
    was never closed. Each session now writes one file, closed, holding the final grid."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tiny_config(tmp_path, steps=4, sample_every=1000)).run_dir
    (events,) = (run / "tensorboard").iterdir()
    acc = EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert [e.step for e in acc.Images("samples")] == [4]  # the final grid, in this file
    assert [e.step for e in acc.Scalars("train/loss_D")] == [1, 2, 3, 4]
    train(TrainConfig(steps=6, progress=False), resume=run)
    assert len(list((run / "tensorboard").iterdir())) == 2
