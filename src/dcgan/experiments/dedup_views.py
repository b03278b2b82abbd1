"""The views of the `combined` hash of `dedup`: a perceptual hash (pHash) of several views
of each full-size image, for the copies a 32 px learned hash cannot see.

Each image gives two 64-bit pHashes: of the image with its flat borders trimmed (frames,
letterbox bars: `trim`), and of that mirrored. A later image matches an earlier one when
the earlier one's first view lies within `DedupConfig.views_radius` bits of either view
of the later one (dedup_groups.view_distance). pHash is computed as imagehash's `phash`
(grayscale, 32 x 32 Lanczos, 2-D DCT, the 8 x 8 lowest frequencies against their median),
bit for bit.
"""

from __future__ import annotations

import numpy as np
import scipy.fftpack
from PIL import Image, ImageChops, ImageOps

from dcgan.data.images import open_image
from dcgan.data.sources import Payload

VIEWS = 2  # trimmed, trimmed and mirrored
VIEW_BYTES = 8  # 64-bit pHash
DRAFT = 512  # a JPEG may be decoded at a reduced scale, down to this side (pHash sees 32 px)


def trim(img: Image.Image, tol: int = 24, passes: int = 2) -> Image.Image:
    """`img` without flat borders (frames, letterbox bars): each pass crops to the box that
    differs from the top-left pixel's colour by more than `tol`, if that box is smaller
    (and at least 16 px on each side)."""
    for _ in range(passes):
        diff = ImageChops.difference(img, Image.new("RGB", img.size, img.getpixel((0, 0))))
        box = diff.convert("L").point(lambda v: 255 if v > tol else 0).getbbox()
        if not box or box == (0, 0, *img.size) or min(box[2] - box[0], box[3] - box[1]) < 16:
            break
        img = img.crop(box)
    return img


def phash(img: Image.Image) -> np.ndarray:
    """The 64-bit pHash of `img` as 64 booleans (imagehash.phash's bits, row by row)."""
    pixels = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8]
    return (dct > np.median(dct)).ravel()


def image_views(img: Image.Image) -> np.ndarray:
    """Packed views of one RGB image: VIEWS x VIEW_BYTES uint8."""
    img = trim(img.convert("RGB"))
    return np.packbits(np.stack([phash(img), phash(ImageOps.mirror(img))]), axis=1)


def view_codes(payload: Payload) -> np.ndarray:
    """Packed views of one payload (encoded bytes, a file path or uint8 pixels), decoded
    in full (a JPEG larger than DRAFT px on each side at a reduced scale)."""
    return image_views(open_image(payload, 3, draft=DRAFT))
