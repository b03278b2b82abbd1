"""Inputs an independent probe found mishandled: an empty data source (it meant the current
folder), files that are not regular files (a FIFO blocks open() forever) and archive members
that expand far beyond their size on disk. Each is refused or skipped in one line."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.cli import main
from dcgan.data import base as base_module
from dcgan.data import prepare as prepare_module
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
    reason = meta["skipped_examples"][0]["reason"]
    assert reason.endswith("x.jpg is a FIFO, not a regular file: refused"), reason
    assert not reason.startswith("DcganError"), reason  # our own words need no type name


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


# --- members that expand far beyond their size on disk ---------------------------------------


def _peak_growth(call) -> int | None:
    """Bytes the resident memory peaked above its level at the start of `call()` (Linux: the
    peak is reset through /proc/self/clear_refs); None where that cannot be measured."""

    def status(key: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        start = status("VmRSS:")
    except OSError:
        call()
        return None
    call()
    return status("VmHWM:") - start


def _tar_gz_with_zeros(path: Path, name: str, size: int) -> None:
    """A .tar.gz whose member `name` is `size` zero bytes (streamed: never in memory), then a
    real image."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(name)
        info.size = size

        class Zeros(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, b) -> int:
                b[:] = bytes(len(b))
                return len(b)

        tf.addfile(info, io.BufferedReader(Zeros()))
        buf = io.BytesIO()
        Image.new("RGB", (12, 12), (9, 9, 9)).save(buf, "PNG")
        info = tarfile.TarInfo("ok.png")
        info.size = len(buf.getvalue())
        tf.addfile(info, io.BytesIO(buf.getvalue()))


def test_a_tar_member_beyond_the_byte_budget_is_skipped_unread(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    _tar_gz_with_zeros(bomb, "big.png", 300_000_000)  # 300 MB of zeros in 1.3 MB
    assert bomb.stat().st_size < 2_000_000
    out = tmp_path / "out"

    def run() -> None:
        with pytest.warns(UserWarning, match="skipped 1 image.*big.png.*budget"):
            prepare(bomb, out, 16, progress=False, workers=1)

    growth = _peak_growth(run)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 1 and meta["skipped_examples"][0]["name"] == "big.png"
    assert "300 MB is beyond the budget of 256 MB" in meta["skipped_examples"][0]["reason"]
    if growth is not None:
        assert growth < 100_000_000, f"memory peaked {growth / 1e6:.0f} MB above the start"


def test_an_lmdb_value_beyond_the_byte_budget_is_skipped_uncopied(tmp_path, monkeypatch):
    import lmdb

    monkeypatch.setattr(base_module, "MAX_IMAGE_BYTES", 1_000_000, raising=False)
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), (9, 9, 9)).save(buf, "PNG")
    with lmdb.open(str(tmp_path / "db"), map_size=1 << 24) as env, env.begin(write=True) as txn:
        txn.put(b"a", buf.getvalue())
        txn.put(b"b", bytes(3_000_000))
    with pytest.warns(UserWarning, match="skipped 1 image.*b: 3 MB is beyond the budget of 1 MB"):
        out = prepare(tmp_path / "db", tmp_path / "out", 16, progress=False, workers=1)
    assert json.loads((out / "meta.json").read_text())["count"] == 1


def _npz_with_zeros(path: Path, shape: tuple[int, ...], stored: int | None = None) -> None:
    """An .npz whose member x.npy declares uint8 `shape` and holds `stored` zero bytes
    (default: all of them), deflated at the strongest level (zeros shrink about 1000x)."""
    zf = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
    with zf, zf.open("x.npy", "w", force_zip64=True) as m:
        header = {"descr": "|u1", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(m, header)
        left = int(np.prod(shape)) if stored is None else stored
        while left:
            m.write(bytes(min(left, 1 << 22)))
            left -= min(left, 1 << 22)


def test_an_npz_bomb_is_refused_before_it_is_read(tmp_path):
    bomb = tmp_path / "bomb.npz"
    _npz_with_zeros(bomb, (75_000, 64, 64))  # 307 MB of zeros in 0.3 MB
    assert bomb.stat().st_size < 1_000_000

    def run() -> None:
        with pytest.raises(DcganError, match=r"bomb.npz: member x.npy would expand") as e:
            prepare(bomb, tmp_path / "out", 16, progress=False, workers=1)
        assert "\n" not in str(e.value) and "save it as .npy" in str(e.value)

    growth = _peak_growth(run)
    if growth is not None:
        assert growth < 100_000_000, f"memory peaked {growth / 1e6:.0f} MB above the start"
    assert not (tmp_path / "out").exists()


def test_an_npz_header_declaring_more_than_its_member_holds_is_refused(tmp_path):
    file = tmp_path / "lies.npz"
    _npz_with_zeros(file, (1_000_000, 64, 64), stored=100 * 64 * 64)
    with pytest.raises(DcganError, match=r"lies.npz: member x.npy declares .* holds") as e:
        open_source(file)
    assert "\n" not in str(e.value)


def test_an_svhn_mat_bomb_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import scipy.io

    from dcgan.data import arrays

    file = tmp_path / "train_32x32.mat"
    x = np.zeros((32, 32, 3, 200), np.uint8)  # 614 kB of zeros: about 1 kB compressed
    scipy.io.savemat(file, {"X": x, "y": np.ones((200, 1), np.uint8)}, do_compression=True)
    assert open_source(file).length == 200  # within the free 256 MB
    monkeypatch.setattr(arrays, "FREE_BYTES", 100_000, raising=False)
    with pytest.raises(DcganError, match=r"train_32x32.mat: X and y would expand") as e:
        open_source(file)  # loadmat, which inflates X, runs only when items are read
    assert "\n" not in str(e.value)


def test_real_npz_files_still_read(shared, tmp_path):
    source = open_source(shared / "fashion_mnist_test_subset1000.npz", split="test")
    assert source.length == 1000 and source.has_labels
    source = open_source(shared / "cifar10_train20k.npz")
    assert source.length == 20_000 and source.classes and len(source.classes) == 10


def test_read_ahead_of_large_encoded_images_is_bounded_in_bytes(tmp_path, monkeypatch):
    """prepare reads a block of items before converting it: with large tar members, the
    block ends at MAX_BLOCK_BYTES of encoded data, not only at its count of items."""
    monkeypatch.setattr(prepare_module, "MAX_BLOCK_BYTES", 1_000_000, raising=False)
    rng = np.random.default_rng(0)
    with tarfile.open(tmp_path / "big.tar", "w") as tf:
        for i in range(6):  # 6 BMPs of 600 KB
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (400, 500, 3), np.uint8)).save(buf, "BMP")
            info = tarfile.TarInfo(f"{i}.bmp")
            info.size = len(buf.getvalue())
            tf.addfile(info, io.BytesIO(buf.getvalue()))
    source = open_source(tmp_path / "big.tar")
    read, ahead = [0], []

    def counted():
        for item in source.items():
            read[0] += 1
            yield item

    def written(item) -> None:
        ahead.append(read[0] - len(ahead))

    counting = dataclasses.replace(source, items=counted)
    prepare(counting, tmp_path / "out", 16, progress=False, workers=1, on_written=written)
    assert len(ahead) == 6 and max(ahead) <= 2, ahead
