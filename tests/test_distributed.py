"""Multi-process training over gloo on the CPU: 2 processes launched by torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from ddp_worker import tiny

from dcgan import DcganError, distributed
from dcgan.checkpoint import load_checkpoint
from dcgan.data.packed import to_unit_range
from dcgan.sampling import sample_z
from dcgan.training import Trainer

SRC = str(Path(__file__).resolve().parents[1] / "src")
WORKER = str(Path(__file__).with_name("ddp_worker.py"))
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", *args]


def ghost_batch_reference(trainer: Trainer, steps: int, world: int) -> dict[str, torch.Tensor]:
    """The paper's step in one process with BatchNorm over each of `world` equal parts of the
    global batch: what N ranks with per-rank BN statistics compute together."""
    g, d, opt_g, opt_d = trainer.g, trainer.d, trainer.opt_g, trainer.opt_d
    c = trainer.config
    bce = F.binary_cross_entropy_with_logits
    for step in range(steps):
        real = to_unit_range(trainer.data.get_batch(trainer.order.indices(step)))
        z = sample_z(c.batch_size, c.model.nz, c.z_dist, trainer.z_gen)
        parts = list(zip(real.chunk(world), z.chunk(world), strict=True))
        d.requires_grad_(True)
        opt_d.zero_grad()
        fakes = [g(zp) for _, zp in parts]
        loss_d = 0.0
        for (rp, _), f in zip(parts, fakes, strict=True):
            ones = torch.ones(len(rp))
            loss_d = loss_d + bce(d(rp), ones) + bce(d(f.detach()), torch.zeros_like(ones))
        (loss_d / world).backward()
        opt_d.step()
        d.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = sum(bce(d(f), torch.ones(len(f))) for f in fakes) / world
        loss_g.backward()
        opt_g.step()
    params = {f"G.{k}": v for k, v in g.named_parameters()}
    return params | {f"D.{k}": v for k, v in d.named_parameters()}


def test_two_ranks_agree_and_match_one_process(tmp_path: Path) -> None:
    steps = 3
    run = subprocess.run(
        torchrun("--nproc-per-node=2", WORKER, str(tmp_path), str(steps)),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in r0:  # DDP keeps every rank's weights identical, bit for bit
        assert torch.equal(r0[k], r1[k]), k
    # Only rank 0 wrote: one run directory, one checkpoint, one log line per step.
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len((run_dir / "stats.jsonl").read_text().splitlines()) == steps
    assert load_checkpoint(run_dir)["step"] == steps

    # One process on the same global batch of 32, BatchNorm over each rank's 16 images.
    ref = ghost_batch_reference(Trainer(tiny(tmp_path / "one", steps)), steps, world=2)
    for k, v in ref.items():
        torch.testing.assert_close(r0[k], v.detach(), rtol=1e-4, atol=1e-5, msg=k)
    # Plain one process normalises over all 32 images at once: per-rank BN is why the
    # 2-process run differs from it by more than float rounding.
    plain = Trainer(tiny(tmp_path / "plain", steps))
    plain.run()
    w = dict(plain.g.named_parameters())["project.weight"].detach()
    assert not torch.allclose(r0["G.project.weight"], w, rtol=1e-4, atol=1e-5)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def rank_of(pid: int) -> int | None:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def saved_steps(runs: Path) -> list[int]:
    """Steps of the checkpoints present in the run directories under `runs`."""
    return [int(p.stem.split("-")[1]) for p in runs.glob("*/ckpt-*.pt")]


def test_killed_rank_stops_job_and_resumes(tmp_path: Path) -> None:
    flags = ["--data", "digits", "--size", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32"]
    flags += ["--no-progress", "--cache", str(tmp_path / "cache"), "--log-every", "1"]
    cmd = [sys.executable, "-m", "dcgan", "train", "--nproc", "2", *flags]
    job = subprocess.Popen(
        [*cmd, "--steps", "100000", "--checkpoint-every", "2", "--out", str(tmp_path / "runs")],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        # Old checkpoints are pruned as training goes on: wait for any of step >= 4.
        while max(saved_steps(tmp_path / "runs"), default=0) < 4:
            assert job.poll() is None, job.communicate(timeout=10)
            assert time.monotonic() < deadline, "no checkpoint of step >= 4 within 240 s"
            time.sleep(0.2)
        (victim,) = [p for p in children(job.pid) if rank_of(p) == 1]
        os.kill(victim, signal.SIGKILL)
        job.communicate(timeout=120)  # the whole job stops, it does not hang
        assert job.returncode != 0
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    (run_dir,) = (tmp_path / "runs").iterdir()
    step = load_checkpoint(run_dir)["step"]  # latest.pt is whole: written atomically
    assert step >= 4 and step % 2 == 0
    resumed = subprocess.run(
        [*cmd, "--resume", str(run_dir), "--steps", str(step + 2)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(run_dir)["step"] == step + 2
    logged = [line for line in (run_dir / "stats.jsonl").read_text().splitlines() if line]
    assert len(logged) == step + 2  # cut back to the checkpoint, then continued


def test_global_batch_must_split_evenly() -> None:
    job = distributed.Dist(rank=1, world=3)
    assert distributed.rank_batch(128, job, per_rank=True) == (384, 128)
    with pytest.raises(DcganError, match="does not split evenly"):
        distributed.rank_batch(128, job, per_rank=False)
    assert distributed.shard(torch.arange(6), job).tolist() == [2, 3]


def test_uneven_batch_is_one_line_error_before_launch(capsys) -> None:
    from dcgan.cli import main

    assert main(["train", "--nproc", "3", "--batch-size", "128", "--steps", "1"]) == 2
    assert "does not split evenly over 3" in capsys.readouterr().err


def test_resume_is_launched_with_its_saved_batch(tmp_path: Path, monkeypatch) -> None:
    """The pre-launch check must not judge a resumed run by the default --batch-size (128
    does not split over 3; the run's saved 18 does)."""
    from conftest import train_tiny

    from dcgan.cli import main

    run = train_tiny(tmp_path, batch_size=18, steps=1)
    launched = []
    monkeypatch.setattr(distributed, "launch", lambda n, argv: launched.append(n) or 0)
    assert main(["train", "--nproc", "3", "--resume", str(run)]) == 0
    assert main(["train", "--nproc", "3", "--out", str(run)]) == 2  # a run needs --resume
    assert launched == [3]


def test_launcher_drops_its_own_flag() -> None:
    argv = ["train", "--nproc", "2", "--steps", "3", "--nproc=4"]
    assert distributed.strip_flag(argv, "--nproc") == ["train", "--steps", "3"]
