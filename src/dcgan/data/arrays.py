"""Readers of array formats: MNIST idx files, CIFAR batches, SVHN .mat, .npz, .npy and
scikit-learn's digits, plus `array_source` over any image array.

Their items carry decoded uint8 pixels (H x W or H x W x C): layouts are normalised by
`_to_nhwc` and value ranges mapped to 0..255 by `_uint8_converter`.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

from dcgan.data.base import Item, Options, Source, Unreadable, check_split, open_regular
from dcgan.data.safe_pickle import load_batch
from dcgan.errors import DcganError, first_line

MIN_SIDE = 8  # the smallest image side an array may hold (scikit-learn's digits are 8 x 8)
# Arrays that are read whole into memory (.npz members, SVHN .mat) may expand, beyond
# FREE_BYTES, to at most MAX_EXPANSION times what they take in the file: real image arrays
# compress 1 to 10 times (sprites on black some 110), a bomb of zeros some 1000 times.
FREE_BYTES = 256_000_000
MAX_EXPANSION = 200
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@contextlib.contextmanager
def _open_binary(path: Path):
    with open_regular(path) as f:
        yield gzip.GzipFile(fileobj=f, mode="rb") if path.suffix == ".gz" else f


def _idx_header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Read an idx header: two zero bytes, a type code, the number of dims, then each dim
    as a big-endian uint32."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_TYPES:
        raise DcganError(f"not an idx file: {path}")
    raw = f.read(4 * magic[3])
    if len(raw) < 4 * magic[3]:
        raise DcganError(f"{path} is cut short inside its idx header")
    return np.dtype(_IDX_TYPES[magic[2]]), tuple(int(d) for d in np.frombuffer(raw, ">u4"))


def _check_idx(path: Path, keep: bool = False) -> tuple[np.dtype, tuple[int, ...], bytes]:
    """Header, dims and (with `keep`) the data of an idx file, whose length is checked
    against its header: a file cut short (raw or gzipped) is one line saying how much of it
    is there, never an EOFError halfway through prepare."""
    chunks, total = [], 0
    try:
        with _open_binary(path) as f:
            dtype, dims = _idx_header(f, path)
            while chunk := f.read(1 << 22):
                total += len(chunk)
                if keep:
                    chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as e:  # gzip: cut short or damaged
        raise DcganError(f"{path} is not a readable idx file ({first_line(e)})") from None
    item = math.prod(dims[1:]) * dtype.itemsize
    if dims and total < dims[0] * item:
        whole = total // item if item else 0
        raise DcganError(
            f"{path} is cut short: it holds {whole} complete item(s) of the {dims[0]} its"
            " header announces; download or copy it again"
        )
    return dtype, dims, b"".join(chunks)


def find_idx_images(path: Path, split: str) -> Path | None:
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
            raw = f.read(size)
            if len(raw) < size:  # checked when opened: the file changed since
                raise DcganError(f"{images} is cut short at item {i} of {n}")
            pixels = np.frombuffer(raw, dtype).reshape(h, w).astype(np.uint8)
            yield Item(f"{images.name}[{i}]", pixels, None if labels is None else int(labels[i]))


def read_idx(path: Path, opt: Options) -> Source:
    """MNIST-style idx files, gzipped or not: the images file (labels are found beside it,
    train-images -> train-labels) or a folder holding them (`split` picks train or t10k)."""
    images = find_idx_images(path, check_split(opt.split, ("train", "test")))
    if images is None:
        raise DcganError(f"no {opt.split} idx images file (*-images-idx3-ubyte[.gz]) in {path}")
    _, dims, _ = _check_idx(images)
    if len(dims) != 3:
        raise DcganError(f"{images} holds {len(dims)}-d data, expected N x H x W images")
    label_file = images.with_name(images.name.replace("-images", "-labels").replace("idx3", "idx1"))
    labels = None
    if label_file.is_file():
        dtype, label_dims, raw = _check_idx(label_file, keep=True)
        labels = np.frombuffer(raw, dtype, count=label_dims[0] if label_dims else 0)
        labels = labels.astype(np.int64)
        if label_dims != dims[:1]:
            shape = f"labels of shape {label_dims}"
            raise DcganError(f"{label_file} holds {shape} for {dims[0]} images")
    items = partial(_idx_items, images, labels)
    return Source("idx", items, 1, labels is not None, dims[0], path=images)


def _finite_range(images: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values, read in slices (a memory map is never copied)."""
    lo, hi = math.inf, -math.inf
    for i in range(0, len(images), 1024):
        part = np.asarray(images[i : i + 1024])
        part = part[np.isfinite(part)] if np.issubdtype(part.dtype, np.floating) else part
        if part.size:
            lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def _uint8_converter(images: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """How to map this array's values to uint8, decided once from its dtype and range:
    floats in [-1, 1] (some value below 0) or [0, 1] are scaled to 0..255, other floats are
    taken as 0..255; integers above 255 are taken as 16-bit (0..65535). NaN and infinite
    values take no part in the decision (their images are skipped, see `_array_items`)."""
    if images.dtype == np.uint8:
        return np.ascontiguousarray
    if images.dtype == np.bool_:
        return lambda x: x.astype(np.uint8) * 255
    if not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise DcganError(f"unsupported array dtype {images.dtype}: use uint8 or floats")
    lo, hi = _finite_range(images)
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
        return _check_side(images, where)
    if images.ndim != 4:
        raise DcganError(f"{where}: expected N x H x W[ x C] images, got shape {images.shape}")
    nhwc, nchw = images.shape[3] in (1, 3, 4), images.shape[1] in (1, 3, 4)
    if nhwc and nchw:  # ambiguous (tiny images): the layout giving square images wins
        nhwc = images.shape[1] == images.shape[2] or images.shape[2] != images.shape[3]
    if not (nhwc or nchw):
        raise DcganError(f"{where}: no channel axis of size 1, 3 or 4 in shape {images.shape}")
    images = images if nhwc else images.transpose(0, 2, 3, 1)
    return _check_side(images[..., 0] if images.shape[3] == 1 else images, where)


def _check_side(images: np.ndarray, where: str) -> np.ndarray:
    """Refuse images under MIN_SIDE px: an (N, 5, 7) array is more likely not images at
    all (features, a single image read as N rows) than 5 x 7 pictures."""
    h, w = images.shape[1:3]
    if min(h, w) < MIN_SIDE:
        raise DcganError(
            f"{where}: shape {images.shape} would be {h} x {w} px images, under {MIN_SIDE} px a"
            " side: expected N x H x W, N x H x W x C or N x C x H x W images"
        )
    return images


def _array_items(name: str, images: np.ndarray, labels: np.ndarray | None) -> Iterator[Item]:
    convert = _uint8_converter(images)
    floats = np.issubdtype(images.dtype, np.floating)
    for i in range(len(images)):
        label = None if labels is None else int(labels[i])
        if floats and not np.isfinite(images[i]).all():  # skipped and counted by prepare
            yield Item(f"{name}[{i}]", Unreadable("NaN or infinite pixel values"), label)
            continue
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


def cifar_files(path: Path, split: str) -> tuple[list[Path], Path | None]:
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


def _cifar_arrays(file: Path, batch: dict) -> tuple[np.ndarray, list[int]]:
    """The N x 32 x 32 x 3 pixels and N labels of a loaded batch, checked."""
    data, labels = batch.get(b"data"), batch.get(b"labels", batch.get(b"fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.size % 3072:
        raise DcganError(f"{file}: no uint8 'data' array of 3072 values per image")
    data = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if not isinstance(labels, list | np.ndarray) or len(labels) != len(data):
        raise DcganError(f"{file}: no list of {len(data)} labels beside its {len(data)} images")
    if not all(isinstance(y, int | np.integer) and 0 <= y < 2**31 for y in labels):
        raise DcganError(f"{file}: its labels are not non-negative integers")
    return data, [int(y) for y in labels]


def _cifar_items(files: list[Path]) -> Iterator[Item]:
    for file in files:
        data, labels = _cifar_arrays(file, load_batch(file))
        for i, pixels in enumerate(data):
            yield Item(f"{file.name}[{i}]", np.ascontiguousarray(pixels), int(labels[i]))


def read_cifar(path: Path, opt: Options) -> Source:
    """CIFAR-10/100 "python version": a folder of batches (cifar-10-batches-py with
    data_batch_1..5 and test_batch, or cifar-100-python with train/test) or one batch file.

    The CIFAR format *is* pickle (dicts of bytes keys); it is read with a restricted
    unpickler (`dcgan.data.safe_pickle`) that refuses anything but plain data and arrays.
    """
    files, meta = cifar_files(path, check_split(opt.split, ("train", "test")))
    if not files:
        raise DcganError(f"no CIFAR {opt.split} batches found in {path}")
    classes = None
    if meta is not None and meta.is_file():
        names = load_batch(meta)
        names = names.get(b"label_names", names.get(b"fine_label_names", []))
        if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
            raise DcganError(f"{meta}: its label names are not a list of names")
        classes = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]
        classes = classes or None
    return Source("cifar", partial(_cifar_items, files), 3, True, None, classes, path)


def _svhn_items(file: Path) -> Iterator[Item]:
    import scipy.io

    with open_regular(file) as f:
        mat = scipy.io.loadmat(f, variable_names=["X", "y"])
    labels = mat["y"].reshape(-1).astype(np.int64) % 10  # SVHN labels digit 0 as 10
    yield from array_source("svhn", mat["X"].transpose(3, 0, 1, 2), labels, file)


def read_svhn_file(file: Path, opt: Options) -> Source:
    """One SVHN cropped-digits .mat file (X is 32 x 32 x 3 x N, y in 1..10; 10 is digit 0)."""
    import scipy.io

    try:
        with open_regular(file) as f:
            found = {name: (shape, kind) for name, shape, kind in scipy.io.whosmat(f)}
    except (OSError, ValueError) as e:
        raise DcganError(f"cannot read SVHN .mat file {file}: {e}") from e
    shapes = {name: shape for name, (shape, _) in found.items()}
    if len(shapes.get("X", ())) != 4 or "y" not in shapes:
        raise DcganError(f"{file} has no SVHN arrays X (32 x 32 x 3 x N) and y")
    # loadmat inflates compressed variables whole: checked first, from their headers
    expanded = sum(math.prod(found[v][0]) * _mat_itemsize(found[v][1]) for v in ("X", "y"))
    _check_expansion(f"{file}: X and y", expanded, file.stat().st_size)
    classes = [str(d) for d in range(10)]
    return Source("svhn", partial(_svhn_items, file), 3, True, shapes["X"][3], classes, file)


def _mat_itemsize(kind: str) -> int:
    """Bytes per element of a MATLAB class as whosmat names it (uint8, double...); 1 for the
    classes numpy does not know (logical, char, cell...)."""
    try:
        return np.dtype(kind).itemsize
    except TypeError:
        return 1


def _check_expansion(where: str, expanded: int, stored: int) -> None:
    """Refuse an array that would take `expanded` bytes in memory from `stored` in the file
    beyond the budget of FREE_BYTES and MAX_EXPANSION, before it is read."""
    if expanded > max(FREE_BYTES, MAX_EXPANSION * stored):
        raise DcganError(
            f"{where} would expand {stored / 1e6:.1f} MB to {expanded / 1e6:.0f} MB in memory"
            f" ({expanded / max(stored, 1):.0f} times; beyond {FREE_BYTES / 1e6:g} MB at most"
            f" {MAX_EXPANSION}): refused unread; save it as .npy (memory-mapped) to use it"
        )


def _npz_array(path: Path, archive, key: str) -> np.ndarray:
    """`archive[key]`, read only after its sizes are checked: the member's declared size
    against `_check_expansion`, and its npy header's shape x dtype against that size (numpy
    allocates what the header declares before it reads)."""
    zf = archive.zip
    name = key if key in zf.namelist() else f"{key}.npy"
    info, where = zf.getinfo(name), f"{path}: member {name}"
    if info.compress_size > path.stat().st_size:
        raise DcganError(f"{where} claims more compressed bytes than the file holds")
    _check_expansion(where, info.file_size, info.compress_size)
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise DcganError(
            f"{where} declares {shape} {dtype} ({declared / 1e6:.0f} MB) but holds"
            f" {info.file_size / 1e6:.1f} MB"
        )
    return archive[key]


def _optional_array(path: Path, archive, key: str) -> np.ndarray | None:
    """`archive[key]`, or None when it is absent or would need pickle (object arrays)."""
    try:
        return _npz_array(path, archive, key) if key in archive.files else None
    except ValueError:
        return None


def read_npz(path: Path, opt: Options) -> Source:
    """Arrays in an .npz: `key` (default x_train / x_test by split, else images, x, arr_0,
    else the only array) holds the images; labels come from y_* / labels / y if present,
    class names from a string array `class_names` (as in shared/data/cifar10_train20k.npz)."""
    try:
        with open_regular(path) as f, np.load(f, allow_pickle=False) as archive:
            keys = archive.files
            default = [k for k in (f"x_{opt.split}", "images", "x", "arr_0") if k in keys]
            key = opt.key or (default or (keys if len(keys) == 1 else [None]))[0]
            if key not in keys:
                choices = ", ".join(keys)
                raise DcganError(f"{path}: choose the image array with key=, one of {choices}")
            read = partial(_npz_array, path, archive)
            images = read(key)
            label_keys = ["y" + key[1:]] if key.startswith("x") else []
            labels = [read(k) for k in [*label_keys, "labels", "y"] if k in keys]
            labels = [y for y in labels if y.shape == images.shape[:1]]
            names = _optional_array(path, archive, "class_names")
    except DcganError:
        raise
    except Exception as e:  # the loader policy: a damaged archive is one line, any type
        raise DcganError(f"cannot read npz file {path}: {first_line(e)}") from None
    labels = [y for y in labels if y.dtype.kind in "iu"]
    label = labels[0] if labels else None
    named = names is not None and names.dtype.kind == "U" and names.ndim == 1
    fits = named and label is not None and (len(label) == 0 or int(label.max()) < len(names))
    classes = [str(n) for n in names] if fits else None
    return array_source("npz", images, label, path, classes, name=f"{path.name}:{key}")


def read_npy(path: Path, opt: Options) -> Source:
    """One .npy image array, memory-mapped (no labels)."""
    try:
        open_regular(path).close()  # np.load maps the file by its name: a FIFO would block it
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except DcganError:
        raise
    except Exception as e:  # the loader policy: a damaged file is one line, any type
        raise DcganError(f"cannot read npy file {path}: {first_line(e)}") from None
    return array_source("npy", images, None, path)


def read_digits(path: Path, opt: Options) -> Source:
    """scikit-learn's embedded 8x8 digits: 1,797 images, values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    return array_source("digits", images, digits.target.astype(np.int64), name="digits")
