"""Inputs an independent probe found mishandled: an empty data source (it meant the current
folder), files that are not regular files (a FIFO blocks open() forever) and archive members
that expand far beyond their size on disk. Each is refused or skipped in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dcgan.cli import main
from dcgan.data.packed import resolve_data
from dcgan.data.prepare import prepare
from dcgan.data.sources import open_source
from dcgan.errors import DcganError

GUARD_S = 60  # a regression that blocks on a FIFO fails after this instead of hanging
fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _png(path: Path, colour: int = 100) -> None:
    Image.new("RGB", (12, 12), (colour, 0, 0)).save(path, "PNG")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Python `code` in a fresh process that cannot hang the test run."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=GUARD_S,
    )  # fmt: skip


# --- an empty source is refused, never taken as the current folder ---------------------------


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_source_is_refused_not_taken_as_the_current_folder(tmp_path, monkeypatch, spec):
    here = tmp_path / "here"
    here.mkdir()
    _png(here / "a.png")
    monkeypatch.chdir(here)
    for call in (
        lambda: prepare(spec, tmp_path / "out", 16, progress=False, workers=1),
        lambda: resolve_data(spec, 16, cache=tmp_path / "cache", progress=False),
        lambda: open_source(spec),
    ):
        with pytest.raises(DcganError, match="data source is empty") as e:
            call()
        assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_the_cli_refuses_an_empty_source(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "a.png")
    assert main(["prepare", "", str(tmp_path / "out"), "--size", "16"]) == 2
    train = ["train", "--data", "", "--size", "16", "--ngf", "8", "--ndf", "8", "--steps", "1"]
    train += ["--out", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")]
    assert main([*train, "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("data source is empty" in line for line in lines), lines
    assert not any((tmp_path / name).exists() for name in ("out", "runs", "cache"))


@pytest.mark.parametrize("data", [None, 123, 1.5, ["digits"]])
def test_data_that_is_no_path_or_name_is_one_line(tmp_path, data):
    want = f"data must be a path or a dataset name, got {data!r}"
    for call in (
        lambda: resolve_data(data, 16, cache=tmp_path / "cache", progress=False),
        lambda: prepare(data, tmp_path / "out", 16, progress=False, workers=1),
        lambda: open_source(data),
    ):
        with pytest.raises(DcganError) as e:
            call()
        assert str(e.value) == want


# --- FIFOs, sockets, devices: never opened -----------------------------------------------------


@fifo_only
def test_a_fifo_in_an_image_folder_is_skipped_and_counted(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png(folder / "a.png", 40)
    _png(folder / "b.png", 80)
    os.mkfifo(folder / "x.jpg")
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from dcgan.data.prepare import prepare\n"
        "from dcgan.data.packed import resolve_data\n"
        "prepare('imgs', 'out', 16, progress=False, workers=2)\n"
        "print(len(resolve_data('imgs', 16, cache='cache', progress=False)))\n"
    )
    r = _run(code, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2"]
    warned = [line for line in r.stderr.splitlines() if "skipped 1 image(s)" in line]
    assert len(warned) == 2 and all("x.jpg" in line and "FIFO" in line for line in warned)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["count"] == 2 and meta["skipped_examples"][0]["name"] == "x.jpg"


@fifo_only
def test_a_source_that_is_a_fifo_is_refused_by_every_reader(tmp_path):
    """The source path itself, with the format detected or named, and the files that
    readers find inside a folder (idx images, an SVHN .mat)."""
    os.mkfifo(tmp_path / "data.npz")
    (tmp_path / "idx").mkdir()
    os.mkfifo(tmp_path / "idx" / "train-images-idx3-ubyte")
    (tmp_path / "svhn").mkdir()
    os.mkfifo(tmp_path / "svhn" / "train_32x32.mat")
    formats = [None, "npz", "npy", "tar", "idx", "cifar", "svhn", "lmdb", "folder", "mnist"]
    cases = [("data.npz", f) for f in formats] + [("idx", None), ("svhn", None)]
    code = (
        "from dcgan.data.sources import open_source\n"
        "from dcgan.errors import DcganError\n"
        f"for spec, fmt in {cases!r}:\n"
        "    try:\n"
        "        open_source(spec, fmt)\n"
        "        print(spec, fmt, 'OPENED')\n"
        "    except DcganError as e:\n"
        "        print(spec, fmt, e)\n"
    )
    r = _run(code, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(cases), r.stdout
    assert all("is a FIFO, not a regular file" in line for line in lines), r.stdout


@fifo_only
def test_the_cli_refuses_a_fifo_source_in_one_line(tmp_path):
    os.mkfifo(tmp_path / "x.npz")
    r = subprocess.run(
        [sys.executable, "-m", "dcgan", "prepare", "x.npz", "out", "--format", "npz"],
        cwd=tmp_path, capture_output=True, text=True, timeout=GUARD_S,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("dcgan: error: ") and "FIFO" in r.stderr
