"""Data sources: every reader on real files and on small files of each format, and the
image conversion.

Real data comes from ../shared/data (the `shared` fixture skips without it); every other
format is written here, small, with its own library (Pillow, lmdb, pickle, scipy.io).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import lmdb
import numpy as np
import pytest
import scipy.io
from data_helpers import encode, one_line_error, pack, solid
from PIL import Image

from dcgan.data.images import convert_image, fit_square
from dcgan.data.sources import detect_format, open_source

# --- real data ----------------------------------------------------------------------------


def test_idx_gz_matches_npz(shared, tmp_path):
    npz = np.load(shared / "mnist.npz")
    source = open_source(shared / "MNIST" / "raw" / "train-images-idx3-ubyte.gz")
    assert (source.format, source.length, source.channels, source.has_labels) == (
        "idx",
        60000,
        1,
        True,
    )
    first = [item for _, item in zip(range(500), source, strict=False)]
    assert np.array_equal(np.stack([item.data for item in first]), npz["x_train"][:500])
    labels = np.array([item.label for item in first])
    assert np.array_equal(
        np.bincount(labels, minlength=10), np.bincount(npz["y_train"][:500], minlength=10)
    )
    # the torchvision folder layout, with split choosing the t10k files
    test = open_source(shared / "MNIST", split="test")
    assert (test.format, test.length, test.path.name) == ("idx", 10000, "t10k-images-idx3-ubyte.gz")
    data = pack(shared / "MNIST" / "raw", tmp_path, 32, limit=1000)
    assert data.images.shape == (1000, 1, 32, 32)
    assert np.array_equal(data.labels, npz["y_train"][:1000])
    assert data.meta["num_classes"] == 10


def test_mnist_npz_keys_and_splits(shared, tmp_path):
    npz = np.load(shared / "mnist.npz")
    data = pack(shared / "mnist.npz", tmp_path, 28, split="test", limit=300)
    assert data.images.shape == (300, 1, 28, 28)
    assert np.array_equal(data.images[:, 0], npz["x_test"][:300])  # 28 px: pixels untouched
    assert np.array_equal(data.labels, npz["y_test"][:300])
    train = open_source(shared / "mnist.npz", key="x_train")
    assert (train.length, train.has_labels) == (60000, True)
    fashion = pack(shared / "fashion_mnist_test_subset1000.npz", tmp_path, 32, split="test")
    assert len(fashion) == 1000 and fashion.meta["num_classes"] == 10


def test_celeba_tar_centre_crop(shared, tmp_path):
    tar = shared / "celeba_aligned_00.tar"
    assert detect_format(tar) == "tar"
    data = pack(tar, tmp_path, 64, limit=40, workers=2)
    assert data.images.shape == (40, 3, 64, 64) and data.labels is None
    assert data.images.std() > 20
    # first image against Pillow directly: crop rows 20..198 of 178x218, resize to 64
    with tarfile.open(tar) as tf:
        member = tf.next()
        assert member.name == "img_align_celeba/000002.jpg"
        img = Image.open(tf.extractfile(member)).convert("RGB")
    assert img.size == (178, 218)
    ours = data.images[0].transpose(1, 2, 0).astype(int)

    def diff(top: int) -> float:
        ref = img.crop((0, top, 178, top + 178)).resize((64, 64), Image.Resampling.BICUBIC)
        return float(np.abs(ours - np.asarray(ref, int)).mean())

    assert diff(20) < 3  # decoded at half scale by libjpeg, so not bit-identical
    assert diff(0) > 3 * diff(20) and diff(40) > 3 * diff(20)  # the centre, not the top


def test_digits_builtin(tmp_path):
    source = open_source("digits")
    assert (source.length, source.channels, source.format) == (1797, 1, "digits")
    data = pack("digits", tmp_path, 16)
    assert data.images.shape == (1797, 1, 16, 16)
    assert data.images.max() == 255 and data.images.min() == 0
    assert np.array_equal(
        np.bincount(data.labels), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    )


def test_named_mnist_reads_torchvision_layout(shared, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(shared / "MNIST" / "raw" / f"{name}.gz") as f:
            (raw / name).write_bytes(f.read())
    # torchvision 0.29 only checks that all four uncompressed files exist (no checksum)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (raw / name).touch()
    import torchvision

    reference = torchvision.datasets.MNIST(tmp_path, train=False, download=False)
    source = open_source("mnist", split="test", root=tmp_path)
    assert (source.format, source.length) == ("mnist", 10000)
    items = [item for _, item in zip(range(50), source, strict=False)]
    assert np.array_equal(np.stack([i.data for i in items]), reference.data[:50].numpy())
    assert [i.label for i in items] == reference.targets[:50].tolist()


def test_named_download_failure_says_where(tmp_path, monkeypatch):
    import torchvision

    def offline(self):
        raise RuntimeError("Error downloading cifar-10-python.tar.gz:\nnetwork unreachable")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    message = one_line_error(
        open_source, "cifar10", root=tmp_path, match="could not download cifar10"
    )
    assert str(tmp_path / "cifar-10-batches-py") in message


# --- formats written here ----------------------------------------------------------------


def test_folder_of_mixed_images(tmp_path):
    root = tmp_path / "imgs"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    grey16 = Image.fromarray(np.full((8, 8), 65535, np.uint16))
    files = {
        "top.jpg": encode(solid((200, 10, 10)), "JPEG"),
        "a/grey.png": encode(solid(128, mode="L"), "PNG"),
        "a/cmyk.jpg": encode(solid((0, 0, 0, 0), mode="CMYK"), "JPEG"),
        "a/deep/alpha.png": encode(solid((0, 0, 0, 0), mode="RGBA"), "PNG"),
        "a/deep/palette.gif": encode(
            solid((10, 200, 10)).convert("P", palette=Image.ADAPTIVE), "GIF"
        ),
        "b/sixteen.tif": encode(grey16, "TIFF"),
        "b/pic.webp": encode(solid((10, 10, 200)), "WEBP", lossless=True),
        "b/pic.bmp": encode(solid((50, 60, 70)), "BMP"),
        "b/broken.png": b"\x89PNG not really",
        "b/notes.txt": b"not an image",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    with pytest.warns(UserWarning, match="skipped 1 image"):
        data = pack(root, tmp_path, 8, workers=2)
    assert data.meta["count"] == 8 and data.meta["skipped"] == 1 and data.labels is None
    assert data.meta["skipped_examples"][0]["name"] == "b/broken.png"
    # sorted order: a/cmyk, a/deep/alpha, a/deep/palette, a/grey, b/pic.bmp, b/pic.webp, ...
    centre = [tuple(int(v) for v in data.images[i, :, 4, 4]) for i in range(8)]
    assert centre[0] == (255, 255, 255)  # CMYK all-zero ink is white
    assert centre[1] == (255, 255, 255)  # transparent, composited on white
    assert centre[2] == (10, 200, 10)
    assert centre[3] == (128, 128, 128)
    assert centre[4] == (50, 60, 70) and centre[5] == (10, 10, 200)
    assert centre[6] == (255, 255, 255)  # 16-bit 65535 -> 255
    assert abs(centre[7][0] - 200) < 8  # JPEG


def test_folder_class_subfolders_give_labels(tmp_path):
    for cls, colour in (("cat", 0), ("dog", 255)):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(3):
            solid((colour,) * 3).save(tmp_path / "pets" / cls / f"{i}.png")
    data = pack(tmp_path / "pets", tmp_path, 4)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.meta["classes"] == ["cat", "dog"] and data.meta["num_classes"] == 2


def test_gif_first_frame_and_modes_to_8bit():
    frames = [solid((255, 0, 0)), solid((0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert tuple(convert_image(gif, 4, 3)[:, 0, 0]) == (255, 0, 0)
    half = Image.fromarray(np.full((6, 6), 32896, np.uint16))  # 32896 / 257 = 128
    assert convert_image(encode(half, "PNG"), 4, 1).max() == 128


def test_tgz_archive_members_in_order(tmp_path):
    archive = tmp_path / "pics.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (
            ("z/first.png", encode(solid((255, 0, 0)), "PNG")),
            ("readme.txt", b"not an image"),
            ("a/second.jpg", encode(solid((0, 0, 255)), "JPEG", quality=95)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert detect_format(archive) == "tar"
    assert [item.name for item in open_source(archive)] == ["z/first.png", "a/second.jpg"]
    data = pack(archive, tmp_path, 4)
    assert data.images.shape == (2, 3, 4, 4) and data.images[0, 0].min() > 250


def test_lmdb_database(tmp_path):
    db = tmp_path / "bedroom_train_lmdb"
    with lmdb.open(str(db), map_size=1 << 22) as env, env.begin(write=True) as txn:
        for key, colour in ((b"b", (0, 255, 0)), (b"a", (255, 0, 0)), (b"c", (0, 0, 255))):
            txn.put(key, encode(solid(colour, (20, 16)), "PNG"))
        txn.put(b"d", b"garbage")
    assert detect_format(db) == "lmdb" and detect_format(db / "data.mdb") == "lmdb"
    assert open_source(db).length == 4
    with pytest.warns(UserWarning, match="skipped 1"):
        data = pack(db / "data.mdb", tmp_path, 8)
    assert data.images[:, :, 4, 4].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]  # key order


def test_cifar10_and_cifar100_batches(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"data": images.transpose(0, 3, 1, 2).reshape(5, -1), b"labels": [3, 1, 4, 1, 5]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    assert detect_format(tmp_path) == "cifar"
    data = pack(tmp_path, tmp_path, 32)
    assert np.array_equal(data.images, images.transpose(0, 3, 1, 2))
    assert data.labels.tolist() == [3, 1, 4, 1, 5] and data.meta["num_classes"] == 10
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    (c100 / "test").write_bytes(pickle.dumps({b"data": batch[b"data"], b"fine_labels": [99] * 5}))
    (c100 / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"x"] * 100}))
    test = open_source(c100, split="test")
    assert [item.label for item in test] == [99] * 5 and len(test.classes) == 100


def test_svhn_mat(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (32, 32, 3, 4), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [9], [10]])})
    assert detect_format(tmp_path / "train_32x32.mat") == "svhn"
    data = pack(tmp_path, tmp_path, 32)
    assert data.labels.tolist() == [0, 1, 9, 0]
    assert np.array_equal(data.images, x.transpose(3, 2, 0, 1))


@pytest.mark.parametrize(
    ("layout", "scale"), [("nhwc", "unit"), ("nchw", "signed"), ("nhw", "uint8"), ("nchw", "uint8")]
)
def test_npz_layouts_and_ranges(tmp_path, layout, scale):
    rng = np.random.default_rng(2)
    expected = rng.integers(0, 256, (6, 3 if layout != "nhw" else 1, 8, 8), dtype=np.uint8)
    x = {"nhwc": expected.transpose(0, 2, 3, 1), "nchw": expected, "nhw": expected[:, 0]}[layout]
    x = {"unit": x / 255.0, "signed": x / 127.5 - 1.0, "uint8": x}[scale]
    np.savez(tmp_path / "arrays.npz", images=x, labels=np.arange(6))
    data = pack(tmp_path / "arrays.npz", tmp_path, 8)
    assert np.array_equal(data.images, expected)
    assert data.labels.tolist() == list(range(6))
    np.save(tmp_path / "arrays.npy", x)
    assert pack(tmp_path / "arrays.npy", tmp_path, 8).labels is None


# --- conversion ---------------------------------------------------------------------------


def test_resize_crops_the_centre_square():
    tall = np.zeros((80, 40, 3), np.uint8)
    tall[:] = (0, 0, 255)
    tall[20:60] = (255, 0, 0)  # the centre 40x40 square is red, above and below blue
    out = convert_image(encode(Image.fromarray(tall), "PNG"), 8, 3)
    assert out.shape == (3, 8, 8)
    assert (out[0] == 255).all() and (out[1:] == 0).all()
    halves = np.zeros((64, 64), np.uint8)
    halves[:, 32:] = 255
    small = np.asarray(fit_square(Image.fromarray(halves), 8))
    assert (small[:, :2] == 0).all() and (small[:, 6:] == 255).all()
    assert convert_image(np.zeros((28, 28), np.uint8), 32, 1).shape == (1, 32, 32)  # upscale


def test_channel_conversion_both_ways():
    grey = np.full((4, 4), 100, np.uint8)
    assert (convert_image(grey, 4, 3) == 100).all()
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert (convert_image(red, 4, 1) == 76).all()  # ITU-R 601 luma: 0.299 * 255
