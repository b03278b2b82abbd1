"""Damaged and odd data files: one line, or skipped and counted, never a traceback."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dcgan.data.images as images_module
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


# --- images: orientation, the pixel budget, odd arrays --------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((16, 32, 3), np.uint8)
    wide[:, :16] = (255, 0, 0)  # left half red, right half blue
    wide[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": red ends up on top
    (tmp_path / "phone").mkdir()
    Image.fromarray(wide).save(tmp_path / "phone" / "p.jpg", quality=95, exif=exif)
    out = np.load(prepare(tmp_path / "phone", tmp_path / "o", 8, progress=False) / "images.npy")
    top, bottom = out[0, :, 0, 6], out[0, :, 7, 1]
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_images_beyond_the_pixel_budget_are_skipped_before_decoding(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "huge.png").write_bytes(_png_header_only(12000, 12000))
    _png(folder / "ok.png", 100)
    with pytest.warns(UserWarning, match="skipped 1") as record:
        out = prepare(folder, tmp_path / "o", 8, progress=False, workers=1)
    assert not [w for w in record if "DecompressionBomb" in str(w.category)]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 1
    assert (
        "12000 x 12000 px is beyond the budget of 64 Mpx" in meta["skipped_examples"][0]["reason"]
    )


def test_the_budget_counts_pixels_after_jpeg_draft(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 100)
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (40, 40), (9, 9, 9)).save(folder / "a.jpg")  # drafted to 10 x 10: fits
    Image.new("RGB", (40, 40), (9, 9, 9)).save(folder / "b.png")  # no draft for PNG: skipped
    with pytest.warns(UserWarning, match="skipped 1.*b.png"):
        prepare(folder, tmp_path / "o", 8, progress=False, workers=1)


def test_arrays_of_tiny_images_are_refused(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((10, 5, 7), np.float32))
    with pytest.raises(DcganError, match=r"\(10, 5, 7\) would be 5 x 7 px images, under 8 px"):
        open_source(tmp_path / "f.npz")


def test_non_finite_pixels_are_skipped_and_counted(tmp_path):
    x = np.linspace(0, 1, 5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    x[1, 2, 3], x[3, 0, 0] = np.nan, np.inf
    np.savez(tmp_path / "f.npz", x=x)
    with pytest.warns(UserWarning, match=r"skipped 2 .*f.npz:x\[1\]: NaN or infinite"):
        out = prepare(tmp_path / "f.npz", tmp_path / "o", 8, progress=False, workers=1)
    images = np.load(out / "images.npy")
    assert images.shape == (3, 1, 8, 8)
    assert np.array_equal(images[:, 0], np.rint(x[[0, 2, 4]] * 255).astype(np.uint8))
