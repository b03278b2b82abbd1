"""One image of a source into the packed format: decoded within a pixel budget, its mode
converted (8 bits, grey or RGB, transparency on white, phone orientation applied),
centre-cropped to a square and resized with antialiasing (dcgan.data.prepare runs this in
its worker processes; `faces` and `forget` use the same steps)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from dcgan.data.base import Unreadable, open_regular
from dcgan.data.sources import Payload
from dcgan.errors import DcganError, first_line

# The pixel budget of one decoded image (after a JPEG's reduced-scale decoding): 64 Mpx is
# a 8000 x 8000 picture, some 192 MB of RGB; larger ones are skipped and counted.
MAX_PIXELS = 64_000_000


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale modes to 8-bit "L". I;16 is scaled from 0..65535; mode I
    too when it exceeds 255; float mode F is scaled from [0, 1] when it fits, else clipped."""
    a = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16") or (img.mode == "I" and a.max() > 255):
        a = a / 257
    elif img.mode == "F" and a.min() >= 0 and a.max() <= 1:
        a = a * 255
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Any mode to "L" (ITU-R 601 luma) or "RGB". Transparency is composited on white, as an
    image viewer shows it on a white page, rather than exposing whatever colour hides under
    alpha 0."""
    if img.mode.startswith("I") or img.mode == "F":
        img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img.alpha_composite(rgba)
    if img.mode not in ("1", "L", "RGB"):  # CMYK, P, YCbCr, HSV...: via RGB
        img = img.convert("RGB")
    return img.convert("L" if channels == 1 else "RGB")


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square, then resize to `size` (bicubic, antialiased when it shrinks).

    Cropping before resizing keeps pixels outside the square from bleeding into the edges.
    """
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side == size:
        return img
    return img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)


def open_image(payload: Payload, channels: int, draft: int | None = None) -> Image.Image:
    """One payload (encoded bytes, a file path or uint8 pixels) decoded to "L" or "RGB".

    Animated images (GIF, APNG, WebP) give their first frame. With `draft`, a JPEG may be
    decoded at 1/2, 1/4 or 1/8 scale, as long as both sides stay at least `draft`. EXIF
    orientation is applied. An image over MAX_PIXELS (after `draft`) is refused before it
    is decoded (prepare skips and counts it).
    """
    if isinstance(payload, Unreadable):
        raise DcganError(payload.reason)
    if isinstance(payload, np.ndarray):
        return _decoded(Image.fromarray(payload), channels, draft)
    with open_regular(payload) if isinstance(payload, Path) else io.BytesIO(payload) as f:
        with warnings.catch_warnings():  # MAX_PIXELS below is the budget that applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(f)
        return _decoded(img, channels, draft)


def _decoded(img: Image.Image, channels: int, draft: int | None) -> Image.Image:
    """The rest of `open_image`, on an opened image: draft, pixel budget, orientation."""
    with img:
        if draft and img.format == "JPEG":
            img.draft(None, (draft, draft))  # libjpeg decodes at a reduced scale: faster
        w, h = img.size
        if w * h > MAX_PIXELS:  # checked before decoding: the header gives the size
            raise DcganError(
                f"{w} x {h} px is beyond the budget of {MAX_PIXELS / 1e6:g} Mpx per image"
            )
        if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:  # phone photos
            img = ImageOps.exif_transpose(img)
        return _to_channels(img, channels)


def convert_image(payload: Payload, size: int, channels: int) -> np.ndarray:
    """One payload (encoded bytes, a file path or uint8 pixels) to uint8 C x S x S."""
    square = (size, size) if channels == 1 else (size, size, 3)
    if isinstance(payload, np.ndarray) and payload.shape == square:
        return payload.reshape(size, size, channels).transpose(2, 0, 1).copy()
    out = np.asarray(fit_square(open_image(payload, channels, draft=size), size))
    return out.reshape(size, size, channels).transpose(2, 0, 1).copy()


def convert_or_reason(payload: Payload, size: int, channels: int) -> np.ndarray | str:
    """`convert_image`, or the reason it failed (a file that does not decode is skipped)."""
    if isinstance(payload, Unreadable):
        return payload.reason
    try:
        return convert_image(payload, size, channels)
    except DcganError as e:  # our own reasons (a budget, not a regular file) say it all
        return first_line(e)
    except Exception as e:  # Pillow raises many types for bad files; all mean "skip it"
        return f"{type(e).__name__}: {e}".splitlines()[0]


# --- the stream: blocks of items through a process pool ----------------------------------
