"""Small image and packing helpers shared by the data tests."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dcgan.data.packed import PackedDataset
from dcgan.data.prepare import prepare
from dcgan.errors import DcganError


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def solid(colour, size=(12, 10), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def pack(source, tmp_path, size, **kwargs) -> PackedDataset:
    kwargs.setdefault("workers", 1)
    return PackedDataset(prepare(source, tmp_path / "out", size, progress=False, **kwargs))


def one_line_error(fn, *args, match: str, **kwargs) -> str:
    with pytest.raises(DcganError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)
