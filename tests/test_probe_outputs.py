"""Outputs under hostile conditions (issue 24): file names that are not UTF-8, a FIFO or a
device at --out, a checkpoint of NaN weights, a full disk; evaluate's domain guard; and
the small messages (a one-point loss plot, the neighbours caveat)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, train_tiny
from PIL import Image

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


# --- item 9: dedup and a file name that is not UTF-8 ------------------------------------------


def _image_folder(root: Path) -> Path:
    """12 small random images and a copy of the first under a name with byte 0xff."""
    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            folder / f"a{i}.png"
        )
    shutil.copyfile(folder / "a0.png", folder / BAD_NAME)
    return folder


DEDUP = ["--hash", "paper", "--epochs", "1", "--workers", "1"]


def test_dedup_writes_a_non_utf8_name_losslessly(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["dedup", str(_image_folder(tmp_path)), "--out", str(out), *DEDUP]) == 0
    groups = json.loads((out / "groups.json").read_text(encoding="utf-8"))
    names = {d["name"] for item in groups["items"] for d in [item["keep"], *item["duplicates"]]}
    assert BAD_NAME in names and os.fsencode(BAD_NAME) == b"bad\xff.png"
    assert b"bad\xff.png" in (out / "groups.csv").read_bytes()  # the name's own bytes
    listed = [json.loads(line) for line in (out / "names.txt").read_text().splitlines()]
    assert BAD_NAME in listed
    assert sorted(p.name for p in out.iterdir()) == [
        "groups.csv",
        "groups.json",
        "hash_model.pt",
        "hashes.npy",
        "names.txt",
        "sheet.png",
    ]


def test_a_failed_dedup_leaves_no_half_written_outputs(tmp_path, monkeypatch, capsys):
    import dcgan.experiments.dedup as dedup_module

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dedup_module, "contact_sheet", full_disk)  # after the groups are known
    out = tmp_path / "out"
    assert main(["dedup", str(_image_folder(tmp_path)), "--out", str(out), *DEDUP]) == 2
    assert "No space left" in one_line_error(capsys)
    assert not out.exists() or list(out.iterdir()) == []


# --- item 10: a FIFO or a device at --out -------------------------------------------------------


@pytest.mark.parametrize(
    "verb, name",
    [("sample", "grid.png"), ("sample", "seeds"), ("export", "g.pt")],
)
def test_a_fifo_at_out_is_refused_without_blocking(run, tmp_path, verb, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    extra = ["--n", "4"] if verb == "sample" else ["--out-format", "torchscript"]
    proc = cli(verb, str(run), *extra, "--out", str(fifo), timeout=90)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO" in lines[0] and str(fifo) in lines[0], lines
    assert fifo.is_fifo()


@pytest.mark.parametrize("verb", ["sample", "export"])
def test_a_link_to_a_device_at_out_is_refused(run, tmp_path, capsys, verb):
    link = tmp_path / ("grid.png" if verb == "sample" else "g.pt")
    link.symlink_to("/dev/null")
    extra = ["--n", "4"] if verb == "sample" else ["--out-format", "torchscript"]
    assert main([verb, str(run), *extra, "--out", str(link)]) == 2
    assert "is a device, not a regular file" in one_line_error(capsys)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"


def test_every_atomic_write_refuses_a_special_file(tmp_path):
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    with pytest.raises(DcganError, match="is a FIFO"):
        dcgan.io.atomic_write_text(fifo, "{}")
    assert fifo.is_fifo()


# --- item 11: a checkpoint of NaN weights ----------------------------------------------------


@pytest.fixture(scope="module")
def nan_checkpoint(run, tmp_path_factory) -> Path:
    ckpt = torch.load(run / "latest.pt", weights_only=True)
    for key in ("G", "G_ema"):
        if ckpt.get(key) is not None:
            ckpt[key] = {k: v.float().fill_(float("nan")) for k, v in ckpt[key].items()}
    path = tmp_path_factory.mktemp("nan") / "nan.pt"
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("verb", ["sample", "export", "sheet"])
def test_nan_weights_are_refused_by_every_g_reading_verb(nan_checkpoint, tmp_path, capsys, verb):
    out = tmp_path / ("g.pt" if verb == "export" else "x.png")
    extra = {
        "sample": ["--n", "4"],
        "export": ["--out-format", "torchscript"],
        "sheet": ["--n", "4"],
    }
    assert main([verb, str(nan_checkpoint), *extra[verb], "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert str(nan_checkpoint) in line and "not finite" in line
    assert list(tmp_path.iterdir()) == []


# --- item 13: a failed write: no empty folder, a message naming the file ---------------------


def _full_disk(monkeypatch) -> None:
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dcgan.io.os, "fsync", fsync)


def test_a_failed_per_seed_sample_leaves_no_empty_folder(run, tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch)
    out = tmp_path / "new" / "seeds"
    assert main(["sample", str(run), "--n", "3", "--out", f"{out}/"]) == 2
    line = one_line_error(capsys)
    assert str(out / "seed000000.png") in line and "No space left" in line
    assert "previous" not in line  # there was none
    assert list(tmp_path.iterdir()) == []


def test_a_failed_grid_says_the_previous_one_is_kept_only_when_there_was_one(
    run, tmp_path, monkeypatch, capsys
):
    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "--n", "4", "--out", str(grid)]) == 0
    before = grid.read_bytes()
    _full_disk(monkeypatch)
    assert main(["sample", str(run), "--n", "9", "--out", str(grid)]) == 2
    line = one_line_error(capsys)
    assert str(grid) in line and "No space left" in line and "previous one is kept" in line
    assert grid.read_bytes() == before
    new = tmp_path / "other.png"
    assert main(["sample", str(run), "--n", "4", "--out", str(new)]) == 2
    line = one_line_error(capsys)
    assert str(new) in line and "No space left" in line and "previous" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_a_failed_export_names_its_file(run, tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch)
    out = tmp_path / "g.pt"
    assert main(["export", str(run), "--out-format", "torchscript", "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert str(out) in line and "No space left" in line and "previous" not in line
    assert list(tmp_path.iterdir()) == []


# --- item 15: evaluate refuses data its extractor does not fit -------------------------------


def _npz(path: Path, images: np.ndarray) -> Path:
    np.savez(path, x_train=images)
    return path


@pytest.fixture(scope="module")
def real_data(tmp_path_factory) -> dict[str, Path]:
    """200 real MNIST digits and 200 real CIFAR-10 photos, as small npz files."""
    if not (SHARED / "mnist.npz").is_file() or not (SHARED / "cifar10_train20k.npz").is_file():
        pytest.skip(f"real MNIST or CIFAR-10 arrays are absent from {SHARED}")
    tmp = tmp_path_factory.mktemp("real")
    with np.load(SHARED / "mnist.npz") as m, np.load(SHARED / "cifar10_train20k.npz") as c:
        return {
            "mnist": _npz(tmp / "mnist200.npz", m["x_train"][:200]),
            "cifar": _npz(tmp / "cifar200.npz", c["x_train"][:200]),
        }


EVAL = ["--extractor", "mnist", "--metrics", "fid", "--n", "200"]


def test_evaluate_refuses_colour_images_with_the_mnist_extractor(tmp_path, real_data, capsys):
    from dcgan import ModelConfig

    run3 = train_tiny(tmp_path, model=ModelConfig(size=16, channels=3, ngf=8, ndf=8))
    args = ["evaluate", str(run3), *EVAL, "--data", str(real_data["cifar"])]
    assert main([*args, "--cache", str(tmp_path / "eval-cache")]) == 2
    line = one_line_error(capsys)
    assert "1-channel" in line and "3-channel" in line and "inception" in line
    assert not (tmp_path / "eval-cache").exists()  # refused before any data was prepared


def test_evaluate_warns_when_the_real_data_are_not_digits(run, tmp_path, real_data, capsys):
    cache = ["--cache", str(tmp_path / "cache")]
    assert main(["evaluate", str(run), *EVAL, "--data", str(real_data["mnist"]), *cache]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["evaluate", str(run), *EVAL, "--data", str(real_data["cifar"]), *cache]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcgan: warning:") and "not digits" in err[0]


# --- item 16: small messages ----------------------------------------------------------------


def test_a_one_row_loss_plot_is_not_empty(tmp_path, monkeypatch):
    import matplotlib.figure

    from dcgan.plots import plot_training

    row = {"step": 50, "epoch": 0.6, "loss_D": 1.2, "loss_G": 0.9, "D_x": 0.6, "D_G_z": 0.4}
    (tmp_path / "stats.jsonl").write_text(json.dumps(row) + "\n")
    drawn = []
    save = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        drawn.extend(line for ax in fig.axes for line in ax.get_lines())
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    assert plot_training(tmp_path) == tmp_path / "losses.png"
    assert len(drawn) == 4
    for line in drawn:  # a single point shows only as a marker
        assert len(line.get_xdata()) >= 2 or line.get_marker() not in (None, "", " ", "None")


def test_neighbors_says_what_it_does_not_show(run, tmp_path, capsys):
    args = [
        "neighbors",
        str(run),
        "--data",
        "digits",
        "--n",
        "2",
        "--k",
        "1",
        "--ratio-samples",
        "10",
    ]
    args += ["--held-out", "20", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    caveat = [line for line in out.splitlines() if "not proof" in line]
    assert len(caveat) == 1 and "shifted" in caveat[0]
    record = json.loads((tmp_path / "neighbors.json").read_text())
    assert "not proof" in record["caveat"]
