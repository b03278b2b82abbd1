"""Readers of every supported source format.

A reader turns a path (or a dataset name) into a `Source`: a re-iterable stream of `Item`s
in a deterministic order, plus what `prepare` needs up front (natural channel count, labels,
length when it is cheap to know). Encoded images travel as bytes or as a file path and are
decoded later in worker processes; array formats yield decoded uint8 arrays (H x W or
H x W x C). `detect_format` picks a reader from the path, `open_source` runs it.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dcgan.errors import DcganError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
DEFAULT_ROOT = Path("~/.cache/dcgan/datasets")
Payload = bytes | Path | np.ndarray


class Item(NamedTuple):
    """One image: a name for error reports, its payload and its label (None: unlabelled).

    The payload is encoded file bytes, a file path to read, or decoded uint8 pixels.
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


def _check_split(split: str, allowed: tuple[str, ...]) -> str:
    if split not in allowed:
        raise DcganError(f"unknown split {split!r}: use one of {', '.join(allowed)}")
    return split


# --- encoded images: folder, tar, lmdb ---------------------------------------------------


def _image_files(root: Path) -> list[Path]:
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
    files = _image_files(path)
    if not files:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise DcganError(f"no image files ({exts}) found in {path}")
    classes = _class_names(path, files)
    items = partial(_folder_items, path, files, classes)
    return Source("folder", items, 3, classes is not None, len(files), classes, path)


def _tar_items(path: Path) -> Iterator[Item]:
    try:
        with tarfile.open(path, "r:*") as tf:  # any compression, read in archive order
            while (member := tf.next()) is not None:
                if member.isfile() and Path(member.name).suffix.lower() in IMAGE_EXTENSIONS:
                    yield Item(member.name, tf.extractfile(member).read(), None)
                tf.members.clear()  # TarFile keeps every header it read; bound the memory
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DcganError(f"cannot read tar archive {path}: {e}") from e


def read_tar(path: Path, opt: Options) -> Source:
    """A tar archive of images (.tar, .tar.gz, .tgz...), read in archive order without
    extracting it; members that are not images are ignored."""
    if not path.is_file() or not tarfile.is_tarfile(path):
        raise DcganError(f"not a readable tar archive: {path}")
    return Source("tar", partial(_tar_items, path), 3, False, path=path)


def _open_lmdb(folder: Path):
    import lmdb

    try:
        return lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as e:
        raise DcganError(f"cannot open LMDB database {folder}: {e}") from e


def _lmdb_items(folder: Path) -> Iterator[Item]:
    with _open_lmdb(folder) as env, env.begin() as txn:
        for key, value in txn.cursor():
            yield Item(key.decode("utf-8", "replace"), bytes(value), None)


def read_lmdb(path: Path, opt: Options) -> Source:
    """An LSUN-style LMDB database (its folder or its data.mdb): values are encoded images."""
    folder = path.parent if path.is_file() else path
    if not (folder / "data.mdb").is_file():
        raise DcganError(f"no LMDB database (data.mdb) in {folder}")
    with _open_lmdb(folder) as env:
        length = env.stat()["entries"]
    return Source("lmdb", partial(_lmdb_items, folder), 3, False, length, path=folder)


# --- arrays: idx, cifar, svhn, npz, npy, digits ------------------------------------------

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _idx_header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Read an idx header: two zero bytes, a type code, the number of dims, then each dim
    as a big-endian uint32."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES:
        raise DcganError(f"not an idx file: {path}")
    dims = np.frombuffer(f.read(4 * magic[3]), ">u4")
    return np.dtype(_IDX_TYPES[magic[2]]), tuple(int(d) for d in dims)


def _find_idx_images(path: Path, split: str) -> Path | None:
    """The images file itself, or the one for `split` in `path`, `path/raw` or `path/*/raw`."""
    if path.is_file():
        return path
    prefix = "train" if split == "train" else "t10k"
    for folder in (path, path / "raw", *sorted(path.glob("*/raw"))):
        found = sorted(folder.glob(f"{prefix}-images[-.]idx3-ubyte*"))  # plain before .gz
        if found:
            return found[0]
    return None


def _idx_items(images: Path, labels: np.ndarray | None) -> Iterator[Item]:
    with _open_binary(images) as f:
        dtype, (n, h, w) = _idx_header(f, images)
        size = h * w * dtype.itemsize
        for i in range(n):
            pixels = np.frombuffer(f.read(size), dtype).reshape(h, w).astype(np.uint8)
            yield Item(f"{images.name}[{i}]", pixels, None if labels is None else int(labels[i]))


def read_idx(path: Path, opt: Options) -> Source:
    """MNIST-style idx files, gzipped or not: the images file (labels are found beside it,
    train-images -> train-labels) or a folder holding them (`split` picks train or t10k)."""
    images = _find_idx_images(path, _check_split(opt.split, ("train", "test")))
    if images is None:
        raise DcganError(f"no {opt.split} idx images file (*-images-idx3-ubyte[.gz]) in {path}")
    with _open_binary(images) as f:
        _, dims = _idx_header(f, images)
    if len(dims) != 3:
        raise DcganError(f"{images} holds {len(dims)}-d data, expected N x H x W images")
    label_file = images.with_name(images.name.replace("-images", "-labels").replace("idx3", "idx1"))
    labels = None
    if label_file.is_file():
        with _open_binary(label_file) as f:
            dtype, label_dims = _idx_header(f, label_file)
            labels = np.frombuffer(f.read(), dtype).astype(np.int64)
        if label_dims != dims[:1]:
            raise DcganError(f"{label_file} has {label_dims[0]} labels for {dims[0]} images")
    items = partial(_idx_items, images, labels)
    return Source("idx", items, 1, labels is not None, dims[0], path=images)


def _uint8_converter(images: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """How to map this array's values to uint8, decided once from its dtype and range:
    floats in [-1, 1] (some value below 0) or [0, 1] are scaled to 0..255, other floats are
    taken as 0..255; integers above 255 are taken as 16-bit (0..65535)."""
    if images.dtype == np.uint8:
        return np.ascontiguousarray
    if images.dtype == np.bool_:
        return lambda x: x.astype(np.uint8) * 255
    if not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise DcganError(f"unsupported array dtype {images.dtype}: use uint8 or floats")
    lo, hi = float(images.min()), float(images.max())
    offset, scale = 0.0, 1.0
    if np.issubdtype(images.dtype, np.floating) and lo >= -1 and hi <= 1:
        offset, scale = (1.0, 127.5) if lo < 0 else (0.0, 255.0)
    elif np.issubdtype(images.dtype, np.integer) and hi > 255:
        scale = 255 / 65535

    def convert(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x.astype(np.float32) + offset) * scale), 0, 255).astype(np.uint8)

    return convert


def _to_nhwc(images: np.ndarray, where: str) -> np.ndarray:
    """View N x H x W, N x H x W x C or N x C x H x W (C in 1, 3, 4) as N x H x W[ x C]."""
    if images.ndim == 3:
        return images
    if images.ndim != 4:
        raise DcganError(f"{where}: expected N x H x W[ x C] images, got shape {images.shape}")
    nhwc, nchw = images.shape[3] in (1, 3, 4), images.shape[1] in (1, 3, 4)
    if nhwc and nchw:  # ambiguous (tiny images): the layout giving square images wins
        nhwc = images.shape[1] == images.shape[2] or images.shape[2] != images.shape[3]
    if not (nhwc or nchw):
        raise DcganError(f"{where}: no channel axis of size 1, 3 or 4 in shape {images.shape}")
    images = images if nhwc else images.transpose(0, 2, 3, 1)
    return images[..., 0] if images.shape[3] == 1 else images


def _array_items(name: str, images: np.ndarray, labels: np.ndarray | None) -> Iterator[Item]:
    convert = _uint8_converter(images)
    for i in range(len(images)):
        label = None if labels is None else int(labels[i])
        yield Item(f"{name}[{i}]", convert(images[i]), label)


def array_source(
    fmt: str,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    path: Path | None = None,
    classes: list[str] | None = None,
    name: str | None = None,
) -> Source:
    """A source over an in-memory or memory-mapped image array (see `_to_nhwc` for layouts)."""
    name = name or (path.name if path else fmt)
    images = _to_nhwc(images, name)
    if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
        raise DcganError(f"{name}: {labels.shape} labels do not match {len(images)} images")
    channels = 1 if images.ndim == 3 else 3
    items = partial(_array_items, name, images, labels)
    return Source(fmt, items, channels, labels is not None, len(images), classes, path)


def _pickle_load(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar_files(path: Path, split: str) -> tuple[list[Path], Path | None]:
    """The batch files of `split` and the meta file, for CIFAR-10 or CIFAR-100."""
    if path.is_file():
        meta = [p for p in (path.with_name("batches.meta"), path.with_name("meta")) if p.exists()]
        return [path], (meta[0] if meta else None)
    for folder in (path, path / "cifar-10-batches-py", path / "cifar-100-python"):
        if (folder / "data_batch_1").is_file() or (folder / "test_batch").is_file():
            names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
            return [folder / n for n in names if (folder / n).is_file()], folder / "batches.meta"
        if (folder / "meta").is_file() and (folder / split).is_file():
            return [folder / split], folder / "meta"
    return [], None


def _cifar_items(files: list[Path]) -> Iterator[Item]:
    for file in files:
        batch = _pickle_load(file)
        data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = batch.get(b"labels", batch.get(b"fine_labels"))
        for i, pixels in enumerate(data):
            yield Item(f"{file.name}[{i}]", np.ascontiguousarray(pixels), int(labels[i]))


def read_cifar(path: Path, opt: Options) -> Source:
    """CIFAR-10/100 "python version": a folder of batches (cifar-10-batches-py with
    data_batch_1..5 and test_batch, or cifar-100-python with train/test) or one batch file.

    The CIFAR format *is* pickle (dicts of bytes keys), so it is read with
    `pickle.load(f, encoding="bytes")`; like any pickle, only read files you trust.
    """
    files, meta = _cifar_files(path, _check_split(opt.split, ("train", "test")))
    if not files:
        raise DcganError(f"no CIFAR {opt.split} batches found in {path}")
    classes = None
    if meta is not None and meta.is_file():
        names = _pickle_load(meta)
        names = names.get(b"label_names", names.get(b"fine_label_names", []))
        classes = [n.decode() for n in names] or None
    return Source("cifar", partial(_cifar_items, files), 3, True, None, classes, path)


def _svhn_items(file: Path) -> Iterator[Item]:
    import scipy.io

    mat = scipy.io.loadmat(file, variable_names=["X", "y"])
    labels = mat["y"].reshape(-1).astype(np.int64) % 10  # SVHN labels digit 0 as 10
    yield from array_source("svhn", mat["X"].transpose(3, 0, 1, 2), labels, file)


def _read_svhn_file(file: Path, opt: Options) -> Source:
    import scipy.io

    try:
        shapes = {name: shape for name, shape, _ in scipy.io.whosmat(file)}
    except (OSError, ValueError) as e:
        raise DcganError(f"cannot read SVHN .mat file {file}: {e}") from e
    if len(shapes.get("X", ())) != 4 or "y" not in shapes:
        raise DcganError(f"{file} has no SVHN arrays X (32 x 32 x 3 x N) and y")
    classes = [str(d) for d in range(10)]
    return Source("svhn", partial(_svhn_items, file), 3, True, shapes["X"][3], classes, file)


def read_svhn(path: Path, opt: Options) -> Source:
    """SVHN cropped digits (.mat: X is 32 x 32 x 3 x N, y in 1..10 where 10 is digit 0): the
    file, or a folder holding `<split>_32x32.mat`; the name "svhn" reads or downloads it."""
    split = _check_split(opt.split, ("train", "test", "extra"))
    if not path.exists():
        return read_named("svhn", path, opt)
    return _read_svhn_file(path if path.is_file() else path / f"{split}_32x32.mat", opt)


def read_npz(path: Path, opt: Options) -> Source:
    """Arrays in an .npz: `key` (default x_train / x_test by split, else images, x, arr_0,
    else the only array) holds the images; labels come from y_* / labels / y if present."""
    try:
        with np.load(path) as archive:
            keys = archive.files
            default = [k for k in (f"x_{opt.split}", "images", "x", "arr_0") if k in keys]
            key = opt.key or (default or (keys if len(keys) == 1 else [None]))[0]
            if key not in keys:
                choices = ", ".join(keys)
                raise DcganError(f"{path}: choose the image array with key=, one of {choices}")
            images = archive[key]
            label_keys = ["y" + key[1:]] if key.startswith("x") else []
            labels = [
                archive[k]
                for k in [*label_keys, "labels", "y"]
                if k in keys and archive[k].shape == images.shape[:1]
            ]
    except (OSError, ValueError) as e:
        raise DcganError(f"cannot read npz file {path}: {e}") from e
    labels = [y for y in labels if y.dtype.kind in "iu"]
    return array_source(
        "npz", images, labels[0] if labels else None, path, name=f"{path.name}:{key}"
    )


def read_npy(path: Path, opt: Options) -> Source:
    """One .npy image array, memory-mapped (no labels)."""
    try:
        images = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise DcganError(f"cannot read npy file {path}: {e}") from e
    return array_source("npy", images, None, path)


def read_digits(path: Path, opt: Options) -> Source:
    """scikit-learn's embedded 8x8 digits: 1,797 images, values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    return array_source("digits", images, digits.target.astype(np.int64), name="digits")


# --- named datasets, downloaded with torchvision -----------------------------------------


def read_named(name: str, path: Path, opt: Options) -> Source:
    """A dataset by name, read from `opt.root` in torchvision's layout and downloaded there
    with torchvision when it cannot be read. CelebA is every image of img_align_celeba (all
    partitions); its download needs the gdown package."""
    root, split = opt.root.expanduser(), opt.split
    if name != "celeba":
        _check_split(split, ("train", "test", "extra") if name == "svhn" else ("train", "test"))
    train = {"train": split == "train"}
    t10k = "train" if split == "train" else "t10k"
    where, reader, dataset, kwargs = {
        "mnist": (root / "MNIST" / "raw", read_idx, "MNIST", train),
        "fashion-mnist": (root / "FashionMNIST" / "raw", read_idx, "FashionMNIST", train),
        "cifar10": (root / "cifar-10-batches-py", read_cifar, "CIFAR10", train),
        "svhn": (root / f"{split}_32x32.mat", _read_svhn_file, "SVHN", {"split": split}),
        "celeba": (root / "celeba" / "img_align_celeba", read_folder, "CelebA", {"split": "all"}),
    }[name]
    try:
        return dataclasses.replace(reader(where, opt), format=name)
    except DcganError:
        pass
    files = {
        "mnist": f"{t10k}-images-idx3-ubyte.gz and {t10k}-labels-idx1-ubyte.gz",
        "cifar10": "the extracted cifar-10-python.tar.gz (data_batch_1..5, test_batch)",
        "svhn": where.name,
        "celeba": "the extracted img_align_celeba.zip (the .jpg files)",
    }[name.removeprefix("fashion-")]
    try:
        import torchvision.datasets

        getattr(torchvision.datasets, dataset)(str(root), download=True, **kwargs)
    except Exception as e:  # torchvision raises anything from URLError to RuntimeError
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        place = where.parent if name == "svhn" else where
        raise DcganError(f"could not download {name} ({reason}): put {files} in {place}") from e
    return dataclasses.replace(reader(where, opt), format=name)


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


def detect_format(spec: str | Path) -> str:
    """The format of a source, from its name or path (never from reading its images)."""
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
    if _cifar_files(path, "train")[0] or _cifar_files(path, "test")[0]:
        return "cifar"
    if _find_idx_images(path, "train") or _find_idx_images(path, "test"):
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
    ~/.cache/dcgan/datasets); with one of those formats, an existing folder as `spec` is
    taken as that root.
    """
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
