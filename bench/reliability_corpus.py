"""The files bench/reliability.py feeds to dcgan: a crafted file for every data reader (its
payload, if it ever ran, would create a marker file), and malformed checkpoints."""

from __future__ import annotations

import io
import pickle
import random
import tarfile
import zipfile
from pathlib import Path

import lmdb
import numpy as np
import scipy.io
import torch
from PIL import Image

from dcgan.checkpoint import FORMAT
from dcgan.data.prepare import prepare


class Payload:
    """Unpickling this creates `marker` (open in write mode): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _png(colour: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (colour, 60, 90)).save(buf, "PNG")
    return buf.getvalue()


def build_malicious_data(folder: Path, marker: Path) -> dict[str, Path]:
    """One crafted source per reader: CIFAR batch and meta, npy, npz, packed labels, LMDB
    value, tar member, SVHN .mat holding objects."""
    folder.mkdir(parents=True)
    evil = Payload(marker)
    out: dict[str, Path] = {}
    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]}
    for name, files in {
        "cifar-batch": {"data_batch_1": {**batch, b"x": evil}, "batches.meta": {}},
        "cifar-meta": {"data_batch_1": batch, "batches.meta": {b"label_names": evil}},
    }.items():
        (folder / name).mkdir()
        for file, value in files.items():
            (folder / name / file).write_bytes(pickle.dumps(value, protocol=2))
        out[name] = folder / name
    objects = np.array([evil, 1], dtype=object)
    np.save(folder / "objects.npy", objects, allow_pickle=True)
    out["npy"] = folder / "objects.npy"
    np.savez(folder / "objects.npz", x=objects)
    out["npz"] = folder / "objects.npz"
    np.savez(folder / "ok.npz", x=np.zeros((4, 16, 16), np.uint8), y=np.arange(4))
    packed = prepare(folder / "ok.npz", folder / "packed", 16, progress=False, workers=1)
    np.save(packed / "labels.npy", np.array([evil] * 4, dtype=object), allow_pickle=True)
    out["packed-labels"] = packed
    with lmdb.open(str(folder / "lmdb"), map_size=1 << 22) as env, env.begin(write=True) as txn:
        for i in range(4):
            txn.put(f"{i}".encode(), _png(40 * i))
        txn.put(b"9", pickle.dumps(evil))
    out["lmdb"] = folder / "lmdb"
    with tarfile.open(folder / "images.tar", "w") as tf:
        members = [(f"{i}.png", _png(40 * i)) for i in range(4)]
        members += [("../escaped.png", _png(1)), ("evil.png", pickle.dumps(evil))]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out["tar"] = folder / "images.tar"
    cell = np.empty((2,), dtype=object)
    cell[0], cell[1] = "a", np.zeros(3)
    scipy.io.savemat(folder / "train_32x32.mat", {"X": cell, "y": np.array([[1], [2]])})
    out["svhn-mat"] = folder / "train_32x32.mat"
    return out


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"format": FORMAT, "step": 1, "config": {}, "x": Payload(marker)}, path)
    return path


FIELDS = {
    "config-string": {"config": "abc"},
    "config-list": {"config": [1, 2]},
    "config-model-string": {"config": {"model": "wide"}},
    "config-lr-string": {"config": {"lr": "fast"}},
    "config-ngf-float": {"config": {"model": {"size": 32, "channels": 1, "ngf": 3.5}}},
    "step-string": {"step": "ten"},
    "step-float": {"step": 3.5},
    "G-list": {"G": [1, 2]},
    "D-strings": {"D": {"w": "x"}},
    "G-shapes": {"G": {"project.weight": torch.zeros(2)}},
    "opt-list": {"opt_G": [1]},
    "rng-bad": {"rng": {"z": "x"}},
    "no-format": {"format": None},
}


def build_checkpoint_corpus(folder: Path, good: Path, seed: int = 0) -> list[Path]:
    """Truncations, random bytes, byte flips, other containers and wrong field types."""
    folder.mkdir(parents=True)
    data = good.read_bytes()
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for cut in sorted({0, 1, 10, 100, *(rng.randrange(len(data)) for _ in range(40))}):
        files[f"cut{cut:09d}"] = data[:cut]
    for i in range(20):
        files[f"random{i:02d}"] = rng.randbytes(rng.choice([3, 64, 1000, 20000]))
    for i in range(100):  # near the zip headers, the pickle and the central directory
        flipped = bytearray(data)
        for _ in range(4):
            where = rng.choice([rng.randrange(300), len(data) - 1 - rng.randrange(3000)])
            flipped[where] = rng.randrange(256)
        files[f"flip{i:03d}"] = bytes(flipped)
    files["text"] = b"hello, a text file named .pt\n"
    files["png"] = _png(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")
    files["zip"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(3))
    files["npz"] = buf.getvalue()
    files["pickle"] = pickle.dumps({"format": FORMAT, "step": 1})
    state = torch.load(good, weights_only=True)
    for name, change in FIELDS.items():
        buf = io.BytesIO()
        torch.save({**state, **change}, buf)
        files[f"field-{name}"] = buf.getvalue()
    paths = []
    for name, content in files.items():
        paths.append(folder / f"{name}.pt")
        paths[-1].write_bytes(content)
    return paths
