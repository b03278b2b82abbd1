"""The data types every reader shares: `Item`, `Source` and the reader `Options`.

Kept apart from the readers so that each reader module (encoded images, arrays, named
datasets) and the registry in `sources` can import them without importing each other.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from dcgan.errors import DcganError
from dcgan.options import CACHE

DEFAULT_ROOT = Path(CACHE) / "datasets"
# The most bytes one encoded image may hold, for readers that read it whole (tar members,
# LMDB values): 4 bytes for each pixel of prepare's budget of 64 Mpx, an uncompressed RGBA
# image that size. A larger one is skipped and counted without being read.
MAX_IMAGE_BYTES = 256_000_000


class Unreadable(NamedTuple):
    """The payload of an item a reader found bad (e.g. NaN pixels): skipped and counted."""

    reason: str


Payload = bytes | Path | np.ndarray | Unreadable


def over_budget(size: int) -> Unreadable | None:
    """Why an encoded image of `size` bytes is skipped unread, or None when it fits."""
    if size <= MAX_IMAGE_BYTES:
        return None
    budget = f"{MAX_IMAGE_BYTES / 1e6:g} MB"
    return Unreadable(f"{size / 1e6:.0f} MB is beyond the budget of {budget} per image file")


class Item(NamedTuple):
    """One image: a name for error reports, its payload and its label (None: unlabelled).

    The payload is encoded file bytes, a file path to read, decoded uint8 pixels, or why
    the reader could not read it (`Unreadable`).
    """

    name: str
    data: Payload
    label: int | None


@dataclass(frozen=True)
class Options:
    """Reader options: `key` picks the array of an npz, `split` the train/test part of a
    dataset, `root` the download folder of named datasets."""

    key: str | None = None
    split: str = "train"
    root: Path = DEFAULT_ROOT


@dataclass
class Source:
    """A readable source. Iterating it (any number of times) yields its `Item`s in order."""

    format: str
    items: Callable[[], Iterator[Item]]
    channels: int  # natural channel count: 1 or 3
    has_labels: bool
    length: int | None = None  # None when unknown without reading everything
    classes: list[str] | None = None
    path: Path | None = None  # absolute path of what is read; None for built-in data
    spec: str = ""  # the source as the user gave it

    def __iter__(self) -> Iterator[Item]:
        return self.items()


def check_split(split: str, allowed: tuple[str, ...]) -> str:
    """`split` itself, or a one-line error naming the allowed splits."""
    if split not in allowed:
        raise DcganError(f"unknown split {split!r}: use one of {', '.join(allowed)}")
    return split


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"


def special_file(path: Path) -> str | None:
    """What `path` is when it is a FIFO, a socket or a device ("a FIFO"), else None (a
    regular file, a folder or nothing at all)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else _kind(mode)


def _regular_fd(path: str, flags: int) -> int:
    # O_NONBLOCK lets the open of a FIFO return at once, so that fstat can tell what it
    # is; it changes nothing for a regular file.
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DcganError(f"{path} is {_kind(mode)}, not a regular file: refused")
    return fd


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for binary reading, refused in one line unless it is a regular file:
    open() of a FIFO waits for a writer forever, and reading a device need never end.
    Failures to open (missing, no permission) raise OSError, as open() does."""
    return open(path, "rb", opener=_regular_fd)
