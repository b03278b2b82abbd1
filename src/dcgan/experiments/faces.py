"""`faces`: a training set of face crops (paper §4.2).

OpenCV's frontal-face Haar cascade (bundled with opencv-python-headless) finds faces in every
image of a source; detections of at least `min_face` pixels are kept, grown by a margin into a
square inside the image, resized to the training size, and written as a packed dataset (the
`prepare` layout, so `dcgan train --data OUT` reads it) or a folder of PNGs. faces.json lists
the source name and box of every crop and how many images had 0, 1 or many faces.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcgan.data.images import fit_square, open_image
from dcgan.data.prepare import prepare
from dcgan.data.sources import Item, Source, open_source
from dcgan.errors import DcganError
from dcgan.experiments.detect import cascade
from dcgan.io import atomic_write_text
from dcgan.options_data import FacesConfig
from dcgan.sampling import save_png

CASCADE = "face-alt2"  # of detect.CASCADES: faster than "face" (_default), as accurate on CelebA
REPORT = "faces.json"
FORMATS = ("packed", "folder")

Box = tuple[int, int, int, int]  # x, y, width, height


def detect_faces(image: np.ndarray, config: FacesConfig, detector=None) -> list[Box]:
    """Face boxes (x, y, w, h) of at least `min_face` pixels in a uint8 H x W (x 3) image,
    largest first."""
    detector = detector or cascade(CASCADE)
    import cv2  # importable: cascade() checked it

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    found = detector.detectMultiScale(
        grey,
        scaleFactor=config.scale_factor,
        minNeighbors=config.min_neighbors,
        minSize=(config.min_face, config.min_face),
    )
    boxes = [tuple(int(v) for v in b) for b in found]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def square_crop(box: Box, width: int, height: int, margin: float) -> Box:
    """The square around `box` grown by `margin` of its side on each side, shifted (and if
    need be shrunk) to lie inside a width x height image; as (x, y, side, side)."""
    x, y, w, h = box
    side = min(round(max(w, h) * (1 + 2 * margin)), width, height)
    left = min(max(round(x + w / 2 - side / 2), 0), width - side)
    top = min(max(round(y + h / 2 - side / 2), 0), height - side)
    return left, top, side, side


@dataclass
class FacesResult:
    """Counts of what `faces` read and found, and where it wrote the crops."""

    out: Path
    images: int = 0
    unreadable: int = 0
    by_count: dict[str, int] = field(default_factory=lambda: {"0": 0, "1": 0, "many": 0})
    crops: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        rate = self.images / self.seconds if self.seconds else None
        return {
            "images": self.images,
            "unreadable": self.unreadable,
            "faces": len(self.crops),
            "images_with_faces": self.by_count,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(rate, 2) if rate else None,
        }


def _crops(source: Source, config: FacesConfig, result: FacesResult) -> Iterator[Item]:
    """Every kept face of `source` as an item of square RGB pixels; counts into `result`."""
    detector = cascade(CASCADE)
    for item in source:
        try:
            image = np.asarray(open_image(item.data, 3))
        except Exception:  # Pillow raises many types for a bad file: count it and go on
            result.unreadable += 1
            continue
        result.images += 1
        boxes = detect_faces(image, config, detector)
        result.by_count[str(len(boxes)) if len(boxes) < 2 else "many"] += 1
        for k, box in enumerate(boxes):
            x, y, s, _ = square_crop(box, image.shape[1], image.shape[0], config.margin)
            name = f"{item.name}#{k}"
            result.crops.append({"name": name, "source": item.name, "box": list(box)})
            result.crops[-1]["crop"] = [x, y, s, s]
            yield Item(name, np.ascontiguousarray(image[y : y + s, x : x + s]), None)


def _write_folder(crops: Iterator[Item], out: Path, size: int) -> None:
    from PIL import Image

    for i, item in enumerate(crops):
        save_png(fit_square(Image.fromarray(item.data), size), out / f"{i:07d}.png")


def faces(
    source: str | Path | Source,
    out: str | Path,
    config: FacesConfig | None = None,
    *,
    out_format: str = "packed",
    format: str | None = None,
    key: str | None = None,
    split: str = "train",
    progress: bool = False,
) -> FacesResult:
    """Detect and crop the faces of `source` into `out` (a packed dataset or, with
    out_format="folder", PNG files), with faces.json beside them."""
    config = config or FacesConfig()
    if out_format not in FORMATS:
        raise DcganError(f"unknown output format {out_format!r}: use one of {', '.join(FORMATS)}")
    cascade(CASCADE)  # fail early when OpenCV is missing
    if not isinstance(source, Source):
        source = open_source(source, format, key=key, split=split)
    out = Path(out)
    result = FacesResult(out)
    start = time.perf_counter()
    crops = _crops(source, config, result)
    try:
        if out_format == "folder":
            _write_folder(crops, out, config.size)
        else:
            faces_only = dataclasses.replace(
                source, items=lambda: crops, length=None, has_labels=False, classes=None
            )
            prepare(faces_only, out, config.size, 3, workers=1, progress=progress)
    except DcganError:
        if result.crops:
            raise
    result.seconds = time.perf_counter() - start
    if not result.images:
        raise DcganError(f"no decodable images in {source.spec} ({result.unreadable} unreadable)")
    if not result.crops:
        raise DcganError(f"no faces of {config.min_face}+ px found in {result.images} images")
    report = {**result.summary(), "config": vars(config), "crops": result.crops}
    atomic_write_text(out / REPORT, json.dumps(report, indent=2) + "\n")
    return result
