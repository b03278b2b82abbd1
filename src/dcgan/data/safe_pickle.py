"""A restricted unpickler for CIFAR "python version" batches: no file can run code.

A real batch is a dict of bytes keys holding lists, bytes, str, ints and one uint8 numpy
array. Plain pickle would call whatever global a file names; here `find_class` answers only
the few names a numpy array's pickle uses, and answers them with stand-ins that rebuild the
array from its raw bytes (never numpy's own reconstructors). Any other global is refused,
so a crafted file fails with one line before anything of it runs.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from dcgan.data.base import open_regular
from dcgan.errors import DcganError, UnsafeData, first_line

# Plain numeric dtypes only: an object array would hold pickled objects, not bytes.
_DTYPES = frozenset(
    {"b1", "u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"}
    | {f"{order}{t}" for order in "<>|=" for t in ("b1", "u1", "i1", "u2", "i2", "u4", "i4")}
    | {f"{order}{t}" for order in "<>|=" for t in ("u8", "i8", "f2", "f4", "f8")}
)
_MAX_DEPTH = 8  # a batch is a dict of lists: anything deeper is not a batch


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


class _Dtype:
    """Stands in for `numpy.dtype(spec, align, copy)`; its state may set the byte order."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        spec = _text(spec)
        if spec not in _DTYPES:
            raise UnsafeData(f"an array of dtype {spec!r} (only plain numbers are allowed)")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and _text(state[1]) in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(_text(state[1]))


def _array(raw: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    """A numpy array from its raw bytes, after checking that they fill `shape` exactly."""
    if isinstance(raw, str):  # protocol-2 pickles written by Python 3 store latin-1 text
        raw = raw.encode("latin-1")
    if isinstance(raw, pickle.PickleBuffer):
        raw = bytes(raw.raw())
    if not isinstance(raw, bytes | bytearray) or not isinstance(dtype, _Dtype):
        raise UnsafeData("an array that is not plain bytes")
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise UnsafeData(f"an array of shape {shape!r}")
    if math.prod(shape) * dtype.dtype.itemsize != len(raw):
        raise UnsafeData(f"an array of shape {shape} whose bytes do not fill it")
    order = "F" if _text(order) == "F" or order is True else "C"
    return np.frombuffer(bytes(raw), dtype.dtype).reshape(shape, order=order)


class _ArrayState:
    """Stands in for `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`; its state
    (version, shape, dtype, is_fortran, raw bytes) becomes `self.array`."""

    def __init__(self, cls: Any, *args: Any) -> None:
        if cls is not _ArrayState:
            raise UnsafeData("an array of another class")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafeData("an array state that numpy never writes")
        _, shape, dtype, fortran, raw = state
        self.array = _array(raw, dtype, shape, "F" if fortran else "C")


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """What Python 3 writes for bytes in a protocol-2 pickle: `_codecs.encode(s, 'latin1')`."""
    if not isinstance(text, str) or _text(encoding) not in ("latin1", "latin-1"):
        raise UnsafeData("a _codecs.encode call that is not bytes")
    return text.encode("latin-1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _ArrayState,
    ("numpy._core.multiarray", "_reconstruct"): _ArrayState,
    ("numpy", "ndarray"): _ArrayState,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.numeric", "_frombuffer"): _array,  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _array,
    ("_codecs", "encode"): _codecs_encode,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeData(f"it names {module}.{name}, which a data batch never holds") from None


def _plain(value: Any, depth: int = 0) -> Any:
    """Swap the array stand-ins for their arrays; refuse anything a batch never holds."""
    if depth > _MAX_DEPTH:
        raise UnsafeData("nesting deeper than a data batch")
    if isinstance(value, _ArrayState):
        if value.array is None:
            raise UnsafeData("an array without its bytes")
        return value.array
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v, depth + 1) for v in value)
    if value is None or isinstance(value, bytes | str | int | float | np.ndarray):
        return value
    raise UnsafeData(f"a {type(value).__name__}, which a data batch never holds")


def load_batch(path: Path) -> dict:
    """A CIFAR batch (or meta) file as a dict with bytes keys; one-line error otherwise."""
    try:
        with open_regular(path) as f:
            data = f.read()
        value = _plain(_Unpickler(io.BytesIO(data), encoding="bytes").load())
    except UnsafeData as e:
        raise UnsafeData(f"refused {path}: {e}; it is not a CIFAR batch") from None
    except RecursionError:
        raise UnsafeData(f"refused {path}: nesting deeper than a CIFAR batch") from None
    except DcganError:  # not a regular file
        raise
    except Exception as e:  # pickle raises many types for a damaged stream
        raise DcganError(f"{path} is not a readable CIFAR batch ({first_line(e)})") from None
    if not isinstance(value, dict):
        raise DcganError(f"{path} is not a CIFAR batch (it holds a {type(value).__name__})")
    return value
