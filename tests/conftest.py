"""Shared test fixtures: where the real data lives, and a fixture that skips without it.

Other test files can use the folder itself: `from conftest import SHARED`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Real public datasets beside the repository (see shared/data/README.md); never committed.
# The environment variable DCGAN_SHARED_DATA points the tests at another copy.
SHARED = Path(
    os.environ.get("DCGAN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).expanduser()


@pytest.fixture
def shared() -> Path:
    """The shared data folder; the test is skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED


def celeba_jpegs(n: int) -> list[tuple[str, bytes]]:
    """The first `n` JPEGs of the shared CelebA tar as (member name, bytes); the test is
    skipped when the tar is absent."""
    import tarfile

    tar = SHARED / "celeba_aligned_00.tar"
    if not tar.is_file():
        pytest.skip(f"real CelebA tar {tar} is absent")
    with tarfile.open(tar) as tf:
        members = [m for m in tf.getmembers() if m.isfile()][:n]
        return [(m.name, tf.extractfile(m).read()) for m in members]


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one torch thread is faster than two on a busy machine, and modest.
    Use it per module: `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_tiny(tmp: Path, size: int = 16, **overrides) -> Path:
    """Train a grey model of width 8 on `digits` for 3 steps in `tmp`: enough to exercise
    every code path. Keyword arguments override TrainConfig fields; returns the run dir."""
    from dcgan import ModelConfig, TrainConfig, train

    fields = {
        "data": "digits",
        "out": str(tmp / "runs"),
        "model": ModelConfig(size=size, channels=1, ngf=8, ndf=8),
        "batch_size": 16,
        "steps": 3,
        "cache": str(tmp / "cache"),
        "progress": False,
    }
    return train(TrainConfig(**{**fields, **overrides})).run_dir


@pytest.fixture(autouse=True, scope="session")
def python_sigint_handler():
    """Tests that Ctrl-C themselves need Python's own SIGINT handler. A shell that starts the
    suite in the background (`make test &`) leaves SIGINT ignored, and Python then installs
    none: give it back, as a foreground run has it."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
