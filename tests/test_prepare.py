"""`prepare` (meta, hashes, atomicity, errors) and the packed read side (batches, the
`resolve_data` cache)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from data_helpers import one_line_error, pack, solid
from sklearn.datasets import load_digits

from dcgan.data import packed as packed_module
from dcgan.data.packed import PackedDataset, is_packed, resolve_data, to_unit_range
from dcgan.data.prepare import prepare
from dcgan.data.sources import Item, Source, open_source
from dcgan.errors import DcganError
from dcgan.options_data import PrepareConfig

# --- prepare: meta, hashes, atomicity, errors ---------------------------------------------


def test_meta_and_stable_hash(tmp_path):
    first = prepare("digits", tmp_path / "one", 8, workers=1, progress=False)
    second = prepare("digits", tmp_path / "two", 8, workers=2, progress=False)
    meta = json.loads((first / "meta.json").read_text())
    fields = {"source", "source_path", "format", "count", "size", "channels", "has_labels"}
    fields |= {"num_classes", "skipped", "skipped_examples", "images_sha256", "labels_sha256"}
    assert fields | {"dcgan_version", "created"} <= meta.keys()
    assert (meta["count"], meta["size"], meta["channels"], meta["format"]) == (1797, 8, 1, "digits")
    digest = hashlib.sha256((first / "images.npy").read_bytes()).hexdigest()
    assert meta["images_sha256"] == digest
    assert json.loads((second / "meta.json").read_text())["images_sha256"] == digest
    images = np.load(first / "images.npy", mmap_mode="r")
    assert isinstance(images, np.memmap) and images.shape == (1797, 1, 8, 8)
    labels = np.load(first / "labels.npy")
    assert labels.dtype == np.int64 and np.array_equal(labels, load_digits().target)
    assert meta["labels_sha256"] == hashlib.sha256((first / "labels.npy").read_bytes()).hexdigest()


def failing_source(n_good: int) -> Source:
    def items():
        for i in range(n_good):
            yield Item(str(i), np.zeros((4, 4), np.uint8), None)
        raise RuntimeError("killed")

    return Source("test", items, 1, False, spec="failing")


def test_options_by_position_by_name_or_as_the_config(tmp_path):
    """prepare's options are PrepareConfig's fields, checked as the CLI checks them; the API
    packs any side up to 4096 px, `dcgan prepare` only the sizes train takes."""
    one = prepare("digits", tmp_path / "a", 12, 3, workers=1, progress=False, limit=5)
    config = PrepareConfig(size=12, channels=3, workers=1)
    two = prepare("digits", tmp_path / "b", config=config, progress=False, limit=5)
    three = prepare(
        "digits", tmp_path / "c", size=12, channels=3, workers=1, progress=False, limit=5
    )
    images = [np.load(out / "images.npy") for out in (one, two, three)]
    assert images[0].shape == (5, 3, 12, 12)
    assert all(np.array_equal(images[0], other) for other in images[1:])
    with pytest.raises(TypeError, match="size"):
        prepare("digits", tmp_path / "d", 12, size=12)
    one_line_error(prepare, "digits", tmp_path / "d", 5000, match="size must be in 1..4096")
    one_line_error(prepare, "digits", tmp_path / "d", 8, workers=0, match="workers must be in")
    assert not (tmp_path / "d").exists()


def test_atomic_replace(tmp_path):
    out = prepare("digits", tmp_path / "data", 8, workers=1, progress=False)
    before = json.loads((out / "meta.json").read_text())["images_sha256"]
    (tmp_path / ".data.leftover.tmp").mkdir()  # a killed run's temp dir
    (tmp_path / ".data.leftover.tmp" / "images.npy").write_bytes(b"half")
    with pytest.raises(DcganError, match="killed"):
        prepare(failing_source(300), out, 8, workers=1, progress=False)
    assert json.loads((out / "meta.json").read_text())["images_sha256"] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.leftover.tmp", "data"]
    prepare("digits", out, 16, workers=1, progress=False)
    assert PackedDataset(out).size == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.leftover.tmp", "data"]


def test_stale_temp_folders_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()  # reaped: its pid names no process now
    stale = [f".data.{dead.pid}.abc123_x.tmp", f".data.{dead.pid}.k9z8y7w6.tmp.old"]
    kept = [
        f".data.{os.getpid()}.livelive.tmp",  # a live run (this one)
        f".data.{os.getppid()}.parent00.tmp",  # another live process
        f".other.{dead.pid}.abcdefgh.tmp",  # another output's
        f".data.x.{dead.pid}.abcdefgh.tmp",  # the output "data.x"'s
        ".data.leftover.tmp",  # no pid: not known to be ours
    ]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "images.npy").write_bytes(b"half")
    seen = []

    def items():
        seen.extend(p.name for p in tmp_path.iterdir())  # while prepare writes
        yield Item("0", np.zeros((4, 4), np.uint8), None)

    prepare(
        Source("test", items, 1, False, spec="one"), tmp_path / "data", 4, workers=1, progress=False
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "data"])
    (ours,) = set(seen) - set(kept)
    assert ours.startswith(f".data.{os.getpid()}.") and ours.endswith(".tmp")


def test_errors_are_one_line(tmp_path):
    one_line_error(prepare, tmp_path / "missing", tmp_path / "o", 8, match="not found")
    (tmp_path / "empty").mkdir()
    one_line_error(prepare, tmp_path / "empty", tmp_path / "o", 8, match="no image files")
    (tmp_path / "bad").mkdir()
    for name in ("a.png", "b.jpg"):
        (tmp_path / "bad" / name).write_bytes(b"junk")
    message = one_line_error(
        prepare, tmp_path / "bad", tmp_path / "o", 8, progress=False, match="no decodable images"
    )
    assert "a.png" in message
    one_line_error(
        prepare, "digits", tmp_path / "o", 8, format="webdataset", match="unknown format"
    )
    (tmp_path / "x.csv").write_text("1,2")
    one_line_error(open_source, tmp_path / "x.csv", match="cannot tell the format")
    one_line_error(prepare, "digits", tmp_path / "bad", 8, match="not a packed dataset")
    assert not (tmp_path / "o").exists()


# --- the read side ------------------------------------------------------------------------


def test_packed_dataset_batches(tmp_path):
    data = pack("digits", tmp_path, 8)
    idx = np.array([5, 1, 1700, 1, 0])
    batch = data.get_batch(idx)
    assert batch.dtype == torch.uint8 and batch.shape == (5, 1, 8, 8)
    assert np.array_equal(batch.numpy(), data.images[idx])
    x = to_unit_range(batch)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert to_unit_range(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1.0, 1.0]
    (tmp_path / "out" / "images.npy").write_bytes(b"\x93NUMPY truncated")
    one_line_error(PackedDataset, tmp_path / "out", match="corrupt packed dataset")
    one_line_error(PackedDataset, tmp_path, match="not a packed dataset")


def test_resolve_data_caches_and_checks_size(tmp_path, monkeypatch):
    calls = []
    real_prepare = packed_module.prepare

    def spy(*args, **kwargs):
        calls.append(args)
        return real_prepare(*args, workers=1, **kwargs)

    monkeypatch.setattr(packed_module, "prepare", spy)
    cache = tmp_path / "cache"
    first = resolve_data("digits", 8, None, cache=cache, progress=False)
    second = resolve_data("digits", 8, None, cache=cache, progress=False)
    assert len(calls) == 1 and first.path == second.path
    assert first.path.name.startswith("digits-8px-1c-") and first.channels == 1
    assert resolve_data("digits", 8, 3, cache=cache, progress=False).channels == 3
    assert len(calls) == 2
    assert resolve_data(str(first.path), 8, 1).path == first.path  # a packed dir as it is
    one_line_error(resolve_data, str(first.path), 16, None, match="packed at 8 px")
    assert is_packed(first.path) and not is_packed(cache)


def test_resolve_data_reprepares_a_changed_folder(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    solid((1, 2, 3)).save(folder / "a.png")
    solid((1, 2, 3)).save(folder / "b.png")
    cache = tmp_path / "cache"
    first = resolve_data(folder, 4, None, cache=cache, progress=False)
    shutil.copy(folder / "a.png", folder / "c.png")
    second = resolve_data(folder, 4, None, cache=cache, progress=False)
    assert (len(first), len(second)) == (2, 3) and first.path != second.path
