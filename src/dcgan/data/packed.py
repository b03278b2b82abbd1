"""The read side: a packed dataset directory, memory-mapped, and `resolve_data`, which turns
whatever the user passed as data into one (preparing raw sources once into a cache)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcgan.conventions import to_unit_range  # re-exported: the data's pixel rule
from dcgan.data.prepare import IMAGES, LABELS, META, is_packed, prepare
from dcgan.data.sources import Source, check_spec, open_source
from dcgan.errors import DcganError
from dcgan.options import CACHE

__all__ = ["PackedDataset", "is_packed", "resolve_data", "to_unit_range"]


class PackedDataset:
    """A packed dataset directory written by `prepare`.

    `images` is a read-only memory map (N x C x S x S uint8), `labels` an int64 array or
    None, `meta` the parsed meta.json.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not is_packed(self.path):
            raise DcganError(f"not a packed dataset (no {META} and {IMAGES}): {self.path}")
        try:
            self.meta: dict[str, Any] = json.loads((self.path / META).read_text())
            self.images: np.ndarray = np.load(self.path / IMAGES, mmap_mode="r", allow_pickle=False)
            labels = self.path / LABELS
            self.labels: np.ndarray | None = (
                np.load(labels, allow_pickle=False) if labels.is_file() else None
            )
        except (OSError, ValueError) as e:
            raise DcganError(f"corrupt packed dataset {self.path}: {e}") from e
        shape, count = self.images.shape, self.meta.get("count")
        ok = (
            self.images.dtype == np.uint8
            and len(shape) == 4
            and shape[1] in (1, 3)
            and shape[2] == shape[3]
            and count == shape[0]
            and (self.labels is None or self.labels.shape == (count,))
        )
        if not ok:
            raise DcganError(
                f"corrupt packed dataset {self.path}: images {shape} {self.images.dtype}"
                f" do not match meta.json (count {count}); prepare it again"
            )

    @property
    def size(self) -> int:
        return int(self.images.shape[2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return f"PackedDataset({str(self.path)!r}, n={len(self)}, {self.channels}x{self.size}px)"

    def get_batch(self, indices: np.ndarray | list[int]) -> torch.Tensor:
        """The images at `indices`, in that order, as a uint8 N x C x S x S tensor."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        batch = np.empty((len(indices), *self.images.shape[1:]), np.uint8)
        # Reading a memory map in ascending order is much faster than in random order.
        batch[order] = self.images[indices[order]]
        return torch.from_numpy(batch)


def _readable_name(spec: str, source: Source) -> str:
    """A short, filesystem-safe name for the cache folder of a source."""
    path = Path(spec)
    name = re.sub(r"(\.tar)?\.(gz|tgz|bz2|xz|tar|npz|npy|mat|mdb)$", "", path.name)
    if name.lower() in ("raw", "data", "train", "test", "") and path.parent.name:
        name = f"{path.parent.name}-{name}".strip("-")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name or source.format)


def _stamp(path: Path) -> str:
    """What changes when the source changes: size and mtime of the file, or of every file
    in the folder (a named dataset that is no path: nothing)."""
    if not path.exists():
        return ""
    if path.is_file():
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    digest = hashlib.sha256()
    # The walk of `prepare` (no links to folders followed): names need not be UTF-8, and a
    # dangling link or a link loop is stamped as the link itself (prepare skips and counts it).
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                try:
                    st = os.lstat(full)
                except OSError:  # gone since the walk listed it
                    continue
            rel = os.fsencode(os.path.relpath(full, path))
            digest.update(rel + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def resolve_data(
    data: str | Path,
    size: int,
    channels: int | None = None,
    format: str | None = None,
    cache: str | Path = CACHE,
    progress: bool = True,
    split: str = "train",
) -> PackedDataset:
    """Open `data` as a packed dataset of `size` px (and `channels`, when given).

    A packed directory is opened as it is; any other source (its `split`: train or test) is
    prepared once into `cache/<name>[-<split>]-<size>px-<channels>c-<hash>` and reused
    while the source is unchanged.
    """
    check_spec(data)
    path = Path(data).expanduser()
    if is_packed(path):
        dataset = PackedDataset(path)
        if dataset.size != size or channels not in (None, dataset.channels):
            want = f"{size} px" + (f", {channels} channel(s)" if channels else "")
            raise DcganError(
                f"{data} is packed at {dataset.size} px, {dataset.channels} channel(s) but"
                f" {want} are needed: prepare {dataset.meta.get('source', 'the source')}"
                f" again with size {size}"
            )
        return dataset
    source = open_source(data, format, split=split)
    channels = channels or source.channels
    identity = [str(path.absolute()) if path.exists() else str(data), _stamp(path)]
    identity += [source.format, size, channels] + ([split] if split != "train" else [])
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:10]
    name = _readable_name(str(data), source) + ("" if split == "train" else f"-{split}")
    out = Path(cache) / f"{name}-{size}px-{channels}c-{digest}"
    if not is_packed(out):
        prepare(source, out, size, channels, split=split, progress=progress)
    return PackedDataset(out)
