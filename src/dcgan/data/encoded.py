"""Readers of encoded images: a folder of image files, a tar archive, an LMDB database.

Their items carry the encoded bytes or the file path; decoding happens later, in the worker
processes of `prepare`.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from dcgan.data.base import Item, Options, Source, open_regular, over_budget
from dcgan.errors import DcganError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def image_files(root: Path) -> list[Path]:
    """Image files under `root`, recursively, hidden entries skipped, in sorted order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [
            Path(dirpath, name)
            for name in filenames
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        ]
    return sorted(files)


def _class_names(root: Path, files: list[Path]) -> list[str] | None:
    """Class folders, like torchvision's ImageFolder: only when every top-level entry is a
    folder and at least two of them hold images."""
    entries = [e for e in root.iterdir() if not e.name.startswith(".")]
    if not all(e.is_dir() for e in entries):
        return None
    names = sorted({f.relative_to(root).parts[0] for f in files})
    return names if len(names) >= 2 else None


def _folder_items(root: Path, files: list[Path], classes: list[str] | None) -> Iterator[Item]:
    index = {name: i for i, name in enumerate(classes or [])}
    for f in files:
        rel = f.relative_to(root)
        yield Item(rel.as_posix(), f, index[rel.parts[0]] if classes else None)


def read_folder(path: Path, opt: Options) -> Source:
    """A folder of image files, recursive; labelled when its top level is class folders."""
    if not path.is_dir():
        raise DcganError(f"not a folder: {path}")
    files = image_files(path)
    if not files:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DcganError(f"no image files ({exts}) found in {path}")
    classes = _class_names(path, files)
    items = partial(_folder_items, path, files, classes)
    return Source("folder", items, 3, classes is not None, len(files), classes, path)


def _tar_items(path: Path) -> Iterator[Item]:
    try:
        # any compression, read in archive order
        with open_regular(path) as f, tarfile.open(fileobj=f, mode="r:*") as tf:
            while (member := tf.next()) is not None:
                if member.isfile() and Path(member.name).suffix.lower() in IMAGE_EXTENSIONS:
                    # The header gives the size: a member that would expand beyond the
                    # budget (a tar bomb) is skipped before any of it is read.
                    data = over_budget(member.size) or tf.extractfile(member).read()
                    yield Item(member.name, data, None)
                tf.members.clear()  # TarFile keeps every header it read; bound the memory
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DcganError(f"cannot read tar archive {path}: {e}") from e


def read_tar(path: Path, opt: Options) -> Source:
    """A tar archive of images (.tar, .tar.gz, .tgz...), read in archive order without
    extracting it; members that are not images are ignored."""
    if not path.is_file():
        raise DcganError(f"not a readable tar archive: {path}")
    with open_regular(path) as f:
        if not tarfile.is_tarfile(f):
            raise DcganError(f"not a readable tar archive: {path}")
    return Source("tar", partial(_tar_items, path), 3, False, path=path)


def _open_lmdb(folder: Path):
    import lmdb

    try:
        return lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as e:
        raise DcganError(f"cannot open LMDB database {folder}: {e}") from e


def _lmdb_items(folder: Path) -> Iterator[Item]:
    # buffers: values are views of the memory map, copied only when within the budget
    with _open_lmdb(folder) as env, env.begin(buffers=True) as txn:
        for key, value in txn.cursor():
            data = over_budget(len(value)) or bytes(value)
            yield Item(bytes(key).decode("utf-8", "replace"), data, None)


def read_lmdb(path: Path, opt: Options) -> Source:
    """An LSUN-style LMDB database (its folder or its data.mdb): values are encoded images."""
    folder = path.parent if path.is_file() else path
    if not (folder / "data.mdb").is_file():
        raise DcganError(f"no LMDB database (data.mdb) in {folder}")
    with _open_lmdb(folder) as env:
        length = env.stat()["entries"]
    return Source("lmdb", partial(_lmdb_items, folder), 3, False, length, path=folder)
