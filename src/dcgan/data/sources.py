"""Every supported source format: the registry of readers, `detect_format` and `open_source`.

A reader turns a path (or a dataset name) into a `Source`: a re-iterable stream of `Item`s
in a deterministic order, plus what `prepare` needs up front (natural channel count, labels,
length when it is cheap to know). Encoded images travel as bytes or as a file path and are
decoded later in worker processes; array formats yield decoded uint8 arrays (H x W or
H x W x C). `detect_format` picks a reader from the path, `open_source` runs it.

The readers live by kind: `encoded` (folder, tar, lmdb), `arrays` (idx, cifar, svhn .mat,
npz, npy, digits) and `named` (datasets downloaded with torchvision); the shared types in
`base`. Their public names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from dcgan.data.arrays import (
    array_source,
    cifar_files,
    find_idx_images,
    read_cifar,
    read_digits,
    read_idx,
    read_npy,
    read_npz,
    read_svhn_file,
)
from dcgan.data.base import DEFAULT_ROOT, Item, Options, Payload, Source, special_file
from dcgan.data.encoded import IMAGE_EXTENSIONS, read_folder, read_lmdb, read_tar
from dcgan.data.named import read_named, read_svhn
from dcgan.errors import DcganError

__all__ = [
    "DEFAULT_ROOT",
    "IMAGE_EXTENSIONS",
    "NAMED",
    "READERS",
    "Item",
    "Options",
    "Payload",
    "Source",
    "array_source",
    "check_spec",
    "detect_format",
    "open_source",
    "read_cifar",
    "read_digits",
    "read_folder",
    "read_idx",
    "read_lmdb",
    "read_named",
    "read_npy",
    "read_npz",
    "read_svhn",
    "read_svhn_file",
    "read_tar",
]

READERS: dict[str, Callable[[Path, Options], Source]] = {
    "folder": read_folder,
    "tar": read_tar,
    "lmdb": read_lmdb,
    "idx": read_idx,
    "cifar": read_cifar,
    "svhn": read_svhn,
    "npz": read_npz,
    "npy": read_npy,
    "digits": read_digits,
    **{name: partial(read_named, name) for name in ("mnist", "fashion-mnist", "cifar10", "celeba")},
}
# Names that mean a built-in or downloadable dataset when no such path exists.
NAMED = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn", "celeba")


def check_spec(spec: object) -> None:
    """Refuse in one line a source that is no path or name, an empty one (as a path it
    would mean the current folder, which nobody means by an empty --data), and a FIFO,
    socket or device (reading one would wait forever)."""
    path = os.fspath(spec) if isinstance(spec, str | os.PathLike) else None
    if not isinstance(path, str):
        raise DcganError(f"data must be a path or a dataset name, got {spec!r}")
    if not path.strip():
        raise DcganError("the data source is empty: name a folder, a file or a dataset")
    if kind := special_file(Path(path).expanduser()):
        raise DcganError(f"{spec} is {kind}, not a regular file or a folder: refused")


def detect_format(spec: str | Path) -> str:
    """The format of a source, from its name or path (never from reading its images)."""
    check_spec(spec)
    path = Path(spec).expanduser()
    if not path.exists():
        if str(spec) in NAMED:
            return str(spec)
        raise DcganError(f"data source not found: {spec}")
    name = path.name.lower()
    if path.is_file():
        if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            return "tar"
        if "idx3-ubyte" in name:
            return "idx"
        for ext, fmt in ((".mat", "svhn"), (".npz", "npz"), (".npy", "npy"), (".mdb", "lmdb")):
            if name.endswith(ext):
                return fmt
        cifar100 = name in ("train", "test") and path.with_name("meta").is_file()
        if name.startswith(("data_batch", "test_batch")) or cifar100:
            return "cifar"
        raise DcganError(f"cannot tell the format of {spec}: name it with format=/--format")
    if (path / "data.mdb").is_file():
        return "lmdb"
    if cifar_files(path, "train")[0] or cifar_files(path, "test")[0]:
        return "cifar"
    if find_idx_images(path, "train") or find_idx_images(path, "test"):
        return "idx"
    if any(path.glob("*_32x32.mat")):
        return "svhn"
    return "folder"


def open_source(
    spec: str | Path,
    format: str | None = None,
    *,
    key: str | None = None,
    split: str = "train",
    root: str | Path | None = None,
) -> Source:
    """Open a source given as a path or a dataset name; `format` overrides detection.

    Named datasets (mnist, fashion-mnist, cifar10, svhn, celeba) live in `root` (default
    `datasets` in dcgan.options.CACHE, e.g. ~/.cache/dcgan/datasets); with one of those
    formats, an existing folder as `spec` is taken as that root.
    """
    check_spec(spec)
    fmt = format or detect_format(spec)
    if fmt not in READERS:
        raise DcganError(f"unknown format {fmt!r}: use one of {', '.join(READERS)}")
    path = Path(spec).expanduser()
    if not path.exists() and str(spec) not in NAMED:
        raise DcganError(f"data source not found: {spec}")
    if path.is_dir() and fmt in ("mnist", "fashion-mnist", "cifar10", "celeba"):
        root = path
    opt = Options(key, split, Path(root) if root else DEFAULT_ROOT)
    source = READERS[fmt](path.absolute() if path.exists() else path, opt)
    return dataclasses.replace(source, spec=str(spec))
