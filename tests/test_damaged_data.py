"""Damaged and odd data files: one line, or skipped and counted, never a traceback."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.data.packed import resolve_data
from dcgan.data.prepare import prepare
from dcgan.data.sources import open_source
from dcgan.errors import DcganError


def _mnist_t10k(shared: Path, folder: Path, images_cut: int | None, labels_cut: int | None):
    """The real t10k idx files, raw and gzipped, optionally cut short."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, cut in (("images-idx3", images_cut), ("labels-idx1", labels_cut)):
        data = gzip.decompress((shared / f"MNIST/raw/t10k-{kind}-ubyte.gz").read_bytes())
        (folder / f"t10k-{kind}-ubyte").write_bytes(data[:cut])
    return folder / "t10k-images-idx3-ubyte"


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_images_are_one_line(shared, tmp_path, gz):
    cut = 16 + 784 * 100 + 300  # 100 whole images and part of one
    images = _mnist_t10k(shared, tmp_path, cut, None)
    if gz:
        gz_path = images.with_name(images.name + ".gz")
        gz_path.write_bytes(gzip.compress(images.read_bytes())[:-40])  # the stream cut too
        images.unlink()
        images = gz_path
    with pytest.raises(DcganError) as e:
        prepare(images, tmp_path / "out", 28, progress=False, workers=1)
    message = str(e.value)
    assert "\n" not in message and str(images) in message
    if not gz:
        assert "holds 100 complete item(s) of the 10000" in message


def test_truncated_idx_labels_are_one_line(shared, tmp_path):
    images = _mnist_t10k(shared, tmp_path, None, 8 + 500)
    with pytest.raises(DcganError, match="labels-idx1-ubyte is cut short: it holds 500"):
        open_source(images, split="test")


def test_a_whole_idx_file_still_reads(shared, tmp_path):
    images = _mnist_t10k(shared, tmp_path, None, None)
    out = prepare(images, tmp_path / "out", 28, progress=False, workers=1, limit=50)
    assert (out / "images.npy").stat().st_size > 50 * 784


def _png(path: Path, colour: int) -> None:
    Image.new("RGB", (12, 12), (colour, 0, 0)).save(path, "PNG")


def test_train_data_folder_walk_skips_and_counts_like_prepare(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        _png(folder / f"{i}.png", 40 * i)
    _png(Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png")), 200)  # a Latin-1 file name
    (folder / "gone.png").symlink_to(folder / "missing.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder)  # a folder link loop: not followed
    with pytest.warns(UserWarning, match="skipped 2"):
        data = resolve_data(folder, 8, cache=tmp_path / "cache", progress=False)
    assert len(data) == 4 and data.meta["skipped"] == 2
    names = sorted(x["name"] for x in data.meta["skipped_examples"])
    assert names == ["gone.png", "loop.png"]
    with pytest.warns(UserWarning, match="skipped 2"):
        packed = prepare(folder, tmp_path / "out", 8, progress=False, workers=1)
    assert np.array_equal(np.load(packed / "images.npy"), data.images)


def test_a_damaged_npz_is_one_line(tmp_path):
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((10, 8, 8), np.uint8))
    data = bytearray(buf.getvalue())
    data[60:80] = bytes(20)  # inside the compressed member
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with pytest.raises(DcganError, match="cannot read npz file"):
        prepare(tmp_path / "d.npz", tmp_path / "out", 8, progress=False, workers=1)
