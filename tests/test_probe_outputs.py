"""Outputs under hostile conditions (issue 24): file names that are not UTF-8, a FIFO or a
device at --out, a checkpoint of NaN weights, a full disk; evaluate's domain guard; and
the small messages (a one-point loss plot, the neighbours caveat)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_tiny

import dcgan.io
from dcgan.cli import main
from dcgan.errors import DcganError

SRC = str(Path(__file__).resolve().parents[1] / "src")
BAD_NAME = os.fsdecode(b"bad\xff.png")  # not UTF-8: decoded with surrogateescape

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("probe"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcgan: error:"), err
    return err[0]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`dcgan ARGS` in a subprocess: a regression that blocks fails on the timeout."""
    return subprocess.run(
        [sys.executable, "-m", "dcgan", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=timeout,
    )


# --- item 10: a FIFO or a device at --out -------------------------------------------------------


@pytest.mark.parametrize(
    "verb, name",
    [("sample", "grid.png"), ("sample", "seeds"), ("export", "g.pt")],
)
def test_a_fifo_at_out_is_refused_without_blocking(run, tmp_path, verb, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    extra = ["--n", "4"] if verb == "sample" else ["--format", "torchscript"]
    proc = cli(verb, str(run), *extra, "--out", str(fifo), timeout=90)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO" in lines[0] and str(fifo) in lines[0], lines
    assert fifo.is_fifo()


@pytest.mark.parametrize("verb", ["sample", "export"])
def test_a_link_to_a_device_at_out_is_refused(run, tmp_path, capsys, verb):
    link = tmp_path / ("grid.png" if verb == "sample" else "g.pt")
    link.symlink_to("/dev/null")
    extra = ["--n", "4"] if verb == "sample" else ["--format", "torchscript"]
    assert main([verb, str(run), *extra, "--out", str(link)]) == 2
    assert "is a device, not a regular file" in one_line_error(capsys)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"


def test_every_atomic_write_refuses_a_special_file(tmp_path):
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    with pytest.raises(DcganError, match="is a FIFO"):
        dcgan.io.atomic_write_text(fifo, "{}")
    assert fifo.is_fifo()
