"""No data file runs code when read: a crafted file of every format `prepare` reads is
refused in one line (or its bad items skipped), and the marker its payload would create
never appears."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from dcgan.data.packed import PackedDataset
from dcgan.data.prepare import prepare
from dcgan.data.safe_pickle import load_batch
from dcgan.data.sources import open_source
from dcgan.errors import DcganError, UnsafeData


class Payload:
    """Unpickling this creates `marker` (builtins.open in write mode): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _png(colour: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (colour, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def _cifar_batch(n: int = 4) -> dict:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"batch_label": b"training batch 1 of 5", b"labels": [1, 2, 3, 4][:n], b"data": data}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_cifar_batches_still_load(tmp_path, protocol):
    file = tmp_path / "data_batch_1"
    batch = _cifar_batch()
    batch[b"filenames"] = [b"a.png", "b.png"]
    file.write_bytes(pickle.dumps(batch, protocol=protocol))
    loaded = load_batch(file)
    assert np.array_equal(loaded[b"data"], batch[b"data"]) and loaded[b"labels"] == [1, 2, 3, 4]
    big_endian = {b"data": np.arange(6, dtype=">i4").reshape(2, 3)}
    file.write_bytes(pickle.dumps(big_endian, protocol=protocol))
    assert load_batch(file)[b"data"].tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("where", ["data_batch_1", "batches.meta"])
def test_crafted_cifar_batch_runs_nothing(tmp_path, where):
    marker = tmp_path / "ran"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    files = {
        "data_batch_1": _cifar_batch(),
        "batches.meta": {b"label_names": [b"cat"] * 10},
    }
    files[where] = {**files[where], b"x": Payload(marker)}
    for name, value in files.items():
        (folder / name).write_bytes(pickle.dumps(value, protocol=2))
    with pytest.raises(UnsafeData, match=r"names [a-z]+\.open.*not a CIFAR batch") as e:
        prepare(folder, tmp_path / "out", 32, progress=False, workers=1)
    assert "\n" not in str(e.value) and not marker.exists()
    # The named dataset reads the same folder: refused, not downloaded over.
    with pytest.raises(UnsafeData):
        prepare("cifar10", tmp_path / "out2", 32, root=tmp_path, progress=False, workers=1)
    assert not marker.exists()


@pytest.mark.parametrize(
    "value",
    [
        {b"data": np.array([None, 1], dtype=object)},  # object array: pickled objects inside
        {b"data": {1, 2}},  # a set: needs builtins.set
        [b"not a dict"],
    ],
)
def test_batches_holding_more_than_plain_data_are_refused(tmp_path, value):
    file = tmp_path / "data_batch_1"
    file.write_bytes(pickle.dumps(value, protocol=2))
    with pytest.raises(DcganError):
        load_batch(file)


def test_array_bytes_that_do_not_fill_the_shape_are_refused(tmp_path):
    raw = pickle.dumps({b"data": np.zeros((2, 3), np.uint8)}, protocol=2)
    forged = raw.replace(b"K\x02K\x03", b"K\x09K\x09")  # the shape (2, 3) claims (9, 9)
    assert forged != raw
    (tmp_path / "b").write_bytes(forged)
    with pytest.raises(UnsafeData, match="do not fill it"):
        load_batch(tmp_path / "b")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_pickled_numpy_arrays_are_refused(tmp_path, suffix):
    marker = tmp_path / "ran"
    array = np.array([Payload(marker), 1], dtype=object)
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, array, allow_pickle=True)
    else:
        np.savez(path, x=array)
    with pytest.raises(DcganError, match="cannot read"):
        prepare(path, tmp_path / "out", 8, progress=False, workers=1)
    assert not marker.exists()


def test_pickled_labels_in_a_packed_dataset_are_refused(tmp_path):
    marker = tmp_path / "ran"
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4))
    out = prepare(tmp_path / "d.npz", tmp_path / "packed", 8, progress=False, workers=1)
    np.save(out / "labels.npy", np.array([Payload(marker)] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(DcganError, match="corrupt packed dataset"):
        PackedDataset(out)
    assert not marker.exists()


def test_pickles_in_lmdb_values_are_skipped_not_run(tmp_path):
    import lmdb

    marker = tmp_path / "ran"
    db = tmp_path / "db"
    with lmdb.open(str(db), map_size=1 << 22) as env, env.begin(write=True) as txn:
        txn.put(b"a", _png())
        txn.put(b"b", pickle.dumps(Payload(marker)))
    with pytest.warns(UserWarning, match="skipped 1"):
        out = prepare(db, tmp_path / "out", 8, progress=False, workers=1)
    assert PackedDataset(out).meta["count"] == 1 and not marker.exists()


def test_tar_members_are_read_never_extracted(tmp_path):
    marker = tmp_path / "ran"
    archive = tmp_path / "x.tar"
    with tarfile.open(archive, "w") as tf:
        for name, data in (
            ("ok.png", _png()),
            ("../escaped.png", _png(9)),
            ("evil.png", pickle.dumps(Payload(marker))),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.warns(UserWarning, match="skipped 1"):
        out = prepare(archive, tmp_path / "sub" / "out", 8, progress=False, workers=1)
    assert PackedDataset(out).meta["count"] == 2
    assert not marker.exists() and not (tmp_path / "sub" / "escaped.png").exists()
    assert not list(tmp_path.glob("**/link.png"))


def test_mat_files_holding_objects_are_one_line(tmp_path):
    path = tmp_path / "train_32x32.mat"
    cell = np.empty((2,), dtype=object)
    cell[0], cell[1] = "a", np.zeros(3)
    scipy.io.savemat(path, {"X": cell, "y": np.array([[1], [2]])})
    with pytest.raises(DcganError, match="no SVHN arrays"):
        open_source(path)
