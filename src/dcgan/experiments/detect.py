"""OpenCV's bundled Haar cascades as detectors on generated or real face images.

Images are greyed, enlarged (the cascades were trained on faces far larger than 64 px) and
histogram-equalised. The smile cascade looks only at the lower part of the picture, where
the mouth of an aligned CelebA face lies; its `min_neighbors` sets how sure it must be.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.extras import require
from dcgan.sampling import to_uint8

CASCADES = {
    "face": "haarcascade_frontalface_default.xml",
    # `dcgan faces` crops real photos with alt2: faster than _default, as accurate on CelebA
    "face-alt2": "haarcascade_frontalface_alt2.xml",
    "profile": "haarcascade_profileface.xml",
    "eye": "haarcascade_eye.xml",
    "smile": "haarcascade_smile.xml",
}
SMILE_NEIGHBORS = 50  # on the 64 px CelebA model: ~1/3 of samples smile at 40, ~2/3 at 10


@functools.cache
def cascade(name: str):
    """The named cascade of CASCADES, loaded once: the one loader of OpenCV's cascades in
    the package; a clear error when OpenCV or its data is missing."""
    cv2 = require("faces", "cv2")
    path = getattr(getattr(cv2, "data", None), "haarcascades", "") + CASCADES[name]
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise DcganError(f"OpenCV has no {CASCADES[name]} (OpenCV 5 dropped the cascades: use 4.x)")
    return c


def _grey(images: torch.Tensor, side: int) -> list[np.ndarray]:
    import cv2

    out = []
    for a in to_uint8(images):
        g = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if a.shape[-1] == 3 else a[..., 0]
        out.append(cv2.equalizeHist(cv2.resize(g, (side, side), interpolation=cv2.INTER_LINEAR)))
    return out


def has_face(images: torch.Tensor) -> list[bool]:
    """A frontal face anywhere in each image (in [-1, 1])."""
    c = cascade("face")
    return [len(c.detectMultiScale(g, 1.1, 5, minSize=(30, 30))) > 0 for g in _grey(images, 128)]


def smiles(images: torch.Tensor, min_neighbors: int = SMILE_NEIGHBORS) -> list[bool]:
    """A smile in the lower 40% of each image (in [-1, 1])."""
    c = cascade("smile")
    return [
        len(c.detectMultiScale(g[150:, 40:216], 1.1, min_neighbors, minSize=(40, 15))) > 0
        for g in _grey(images, 256)
    ]


def facing(images: torch.Tensor, min_neighbors: int = 3) -> list[int]:
    """-1 where the profile cascade fires on the image only (the pose it was trained on),
    +1 where it fires on the mirror image only, 0 for neither or both."""
    c = cascade("profile")

    def hit(g: np.ndarray) -> bool:
        return len(c.detectMultiScale(g, 1.1, min_neighbors, minSize=(40, 40))) > 0

    return [int(hit(g[:, ::-1].copy())) - int(hit(g)) for g in _grey(images, 128)]


EYE_ROWS = (0.1875, 0.6875)  # band of rows searched: where an aligned face's eyes lie


def eyes(images: torch.Tensor, min_neighbors: int = 3) -> list[list[tuple[float, ...]]]:
    """Eye boxes (x0, y0, x1, y1) in each image's own pixels. Only the band of rows where
    the eyes of an aligned face lie is searched: elsewhere the cascade fires on nostrils,
    hair and background of blurry samples."""
    c, side = cascade("eye"), 128
    top, bottom = (round(r * side) for r in EYE_ROWS)
    scale = images.shape[-1] / side
    out = []
    for g in _grey(images, side):
        found = c.detectMultiScale(g[top:bottom], 1.1, min_neighbors, minSize=(10, 10))
        out.append(
            [
                (x * scale, (y + top) * scale, (x + w) * scale, (y + top + h) * scale)
                for x, y, w, h in found
            ]
        )
    return out
