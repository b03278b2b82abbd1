"""The data types every reader shares: `Item`, `Source` and the reader `Options`.

Kept apart from the readers so that each reader module (encoded images, arrays, named
datasets) and the registry in `sources` can import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dcgan.errors import DcganError
from dcgan.options import CACHE

DEFAULT_ROOT = Path(CACHE) / "datasets"


class Unreadable(NamedTuple):
    """The payload of an item a reader found bad (e.g. NaN pixels): skipped and counted."""

    reason: str


Payload = bytes | Path | np.ndarray | Unreadable


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
