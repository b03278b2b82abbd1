"""Saving is a critical section: a second Ctrl-C or a SIGTERM during a checkpoint write
finishes the write, then stops (exit 130 / 143); a failed write is one line and keeps the
previous checkpoint."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from test_training import tiny_config

import dcgan.io
from dcgan.checkpoint import load_checkpoint, save_checkpoint
from dcgan.errors import DcganError
from dcgan.interrupts import deferred_signals, exit_code
from dcgan.training import train

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_a_signal_inside_a_critical_section_waits_for_its_end():
    done = []
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        done.append("finished")
    assert done == ["finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert exit_code(signal.SIGINT) == 130 and exit_code(signal.SIGTERM) == 143


def test_a_signal_during_save_checkpoint_does_not_cut_it_short(tmp_path, monkeypatch):
    real_save = torch.save

    def save_and_get_interrupted(obj, f):
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C lands mid-write
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_and_get_interrupted)
    with pytest.raises(KeyboardInterrupt):
        state = {"config": {}, "step": 7, "G": {"w": torch.ones(3)}, "D": {}}
        save_checkpoint(tmp_path, state, 7)
    assert load_checkpoint(tmp_path)["step"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000007.pt", "latest.pt"]


# A training run whose final save receives a second signal in the middle of the write.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, torch
    second = int(sys.argv[1])
    real_save = torch.save
    def save(obj, f):
        os.kill(os.getpid(), second)
        real_save(obj, f)
    torch.save = save
    from dcgan.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize(
    "first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM)]
)
def test_double_signal_during_the_final_save(tmp_path, first, second):
    runs = tmp_path / "runs"
    args = ["train", "--data", "digits", "--size", "16", "--ngf", "8", "--ndf", "8"]
    args += ["--batch-size", "32", "--steps", "100000", "--checkpoint-every", "100000"]
    args += ["--log-every", "1", "--no-progress", "--out", str(runs)]
    args += ["--cache", str(tmp_path / "cache")]
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(int(second)), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        logs = list(runs.glob("*/stats.jsonl"))
        if logs and len(logs[0].read_text().splitlines()) >= 2:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(proc.communicate()[1])
    proc.send_signal(first)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + first, err
    assert "Traceback" not in err and "finishing writing a checkpoint" in err
    run = logs[0].parent
    ckpt = load_checkpoint(run)
    step = int(out.split("at step ")[1].split(";")[0])
    assert ckpt["step"] == step >= 2
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fd")
def test_a_failed_write_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    before = (run / "latest.pt").read_bytes()

    real_fsync = os.fsync

    def failing_fsync(fd):  # the disk fails under checkpoints only
        if ".ckpt-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(dcgan.io.os, "fsync", failing_fsync)
    with pytest.raises(DcganError, match="Input/output error.*latest.pt is kept"):
        train(tiny_config(tmp_path, steps=6), resume=run)
    monkeypatch.undo()
    assert (run / "latest.pt").read_bytes() == before
    assert not list(run.glob(".*tmp*"))


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past it fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_mid_training_is_one_line(tmp_path):
    """A real write failure from the kernel (EFBIG under RLIMIT_FSIZE), end to end."""
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    size = (run / "latest.pt").stat().st_size
    args = ["train", "--resume", str(run), "--steps", "6", "--no-progress"]
    proc = subprocess.run(
        [sys.executable, "-m", "dcgan", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        preexec_fn=lambda: _limit_file_size(size // 2),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and "latest.pt is kept" in lines[0]
    assert load_checkpoint(run)["step"] == 3
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
