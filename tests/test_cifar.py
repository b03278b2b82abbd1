"""CIFAR-10 as a first-class source, on the real shared file cifar10_train20k.npz: its
npz read directly (pixels, labels, class names), the same images as official python
batches, and `train` and `classify` taking the npz as their data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.data.prepare import prepare
from dcgan.data.sources import detect_format, open_source
from dcgan.experiments.classify.splits import has_test_split, open_splits

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    from conftest import SHARED

    path = SHARED / "cifar10_train20k.npz"
    if not path.is_file():
        pytest.skip(f"real data {path} is absent")
    return path


def test_npz_is_read_directly_with_labels_and_names(cifar: Path, tmp_path: Path) -> None:
    assert detect_format(cifar) == "npz"
    source = open_source(cifar)
    assert (source.length, source.channels, source.has_labels) == (20_000, 3, True)
    assert source.classes == NAMES
    data = PackedDataset(prepare(cifar, tmp_path / "p", 32, progress=False, workers=1, limit=300))
    with np.load(cifar) as c:
        x, y = c["x_train"][:300], c["y_train"][:300]
    assert np.array_equal(data.images, x.transpose(0, 3, 1, 2))  # 32 px: pixels untouched
    assert np.array_equal(data.labels, y)
    assert data.meta["classes"] == NAMES and data.meta["num_classes"] == 10
    # no test split in the file: classify holds out a fifth of it instead
    assert not has_test_split(str(cifar))


def test_official_python_batches_give_the_same_images(cifar: Path, tmp_path: Path) -> None:
    """The first 200 real images of batches 1 and 2, written in the official format."""
    with np.load(cifar) as c:
        x, y, index = c["x_train"], c["y_train"], c["train_index"]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    chosen = []
    for k in (1, 2):
        rows = np.flatnonzero((index >= (k - 1) * 10_000) & (index < k * 10_000))[:200]
        data = x[rows].transpose(0, 3, 1, 2).reshape(len(rows), -1)  # 3072 bytes: R, G, B
        batch = {b"batch_label": f"training batch {k} of 5".encode(), b"data": data}
        batch[b"labels"] = y[rows].tolist()
        (folder / f"data_batch_{k}").write_bytes(pickle.dumps(batch))
        chosen.append(rows)
    meta = {b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    rows = np.concatenate(chosen)
    assert detect_format(tmp_path) == "cifar" and open_source(tmp_path).classes == NAMES
    packed = PackedDataset(prepare(tmp_path, tmp_path / "p", 32, progress=False, workers=1))
    assert np.array_equal(packed.images, x[rows].transpose(0, 3, 1, 2))
    assert np.array_equal(packed.labels, y[rows])
    # resized on the way in, as training at 16 px would read them
    small = resolve_data(folder, 16, cache=tmp_path / "cache", progress=False)
    assert small.images.shape == (400, 3, 16, 16) and np.array_equal(small.labels, y[rows])


def test_classify_splits_hold_out_test_and_validation(cifar: Path, tmp_path: Path) -> None:
    """What bench/classify_cifar.py relies on: a fifth held out as test, then the
    validation images, both disjoint from the pool the labels are drawn from."""
    a = open_splits(str(cifar), 32, 3, val_size=500, cache=str(tmp_path), seed=0)
    b = open_splits(str(cifar), 32, 3, val_size=500, cache=str(tmp_path), seed=0)
    test, val = a.test[1], a.val[1]
    assert (len(test), len(val), len(a.pool)) == (4000, 500, 15_500)
    assert not set(test) & set(val) and not set(a.pool) & (set(test) | set(val))
    assert np.array_equal(a.pool, b.pool) and np.array_equal(test, b.test[1])
    assert a.classes.tolist() == list(range(10))
