"""Facial landmarks as detectors of pose and attributes on generated (or real) faces.

dlib's 68-point shape predictor (iBUG 300-W layout), whose weights ship inside the PyPI
package `face-recognition-models` (nothing is downloaded at run time), on the boxes of dlib's
HOG frontal-face detector. Images are enlarged to 128 px first. From the points:
- yaw in degrees: `cv2.solvePnP` of six points (nose tip, chin, outer eye corners, mouth
  corners) against a generic 3D face, camera focal length = image side; positive when the
  face turns towards the image's left (its own right);
- an open mouth: inner-lip gap over mouth width (the mouth aspect ratio);
- glasses: a frame's bridge is a bright-dark edge across the nose between the eyes, where a
  bare nose has none; measured as the strongest row of vertical gradient there;
- eye boxes: each eye's six points, padded.
A face the HOG detector misses (strong yaw, odd renders) gets its landmarks on the median box
of the faces it found, flagged `found=False`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.extras import install_hint, require
from dcgan.sampling import to_uint8

SIDE = 128  # images are enlarged to this side before detection
MOUTH_OPEN = 0.3  # inner-lip gap / mouth width above which a mouth is open
GLASSES = 0.45  # bridge edge strength (see `_bridge`) above which a face wears glasses
# Generic 3D positions (arbitrary units) of points 30, 8, 36, 45, 48, 54 of the 68.
MODEL_3D = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip
        (0.0, -330.0, -65.0),  # chin
        (-225.0, 170.0, -135.0),  # outer corner of the image-left eye
        (225.0, 170.0, -135.0),  # outer corner of the image-right eye
        (-150.0, -150.0, -125.0),  # left mouth corner
        (150.0, -150.0, -125.0),  # right mouth corner
    ]
)
PNP_POINTS = [30, 8, 36, 45, 48, 54]


@dataclass
class Face:
    """The 68 landmarks of one image (in its own pixels) and what they say."""

    points: np.ndarray  # (68, 2)
    found: bool  # the HOG detector found the face (else: landmarks on the median box)
    yaw: float  # degrees
    mouth: float  # mouth aspect ratio
    bridge: float  # glasses-bridge edge strength

    @property
    def mouth_open(self) -> bool:
        """An open mouth on a face the detector found."""
        return self.found and self.mouth > MOUTH_OPEN

    @property
    def glasses(self) -> bool:
        """Glasses on a face the detector found."""
        return self.found and self.bridge > GLASSES

    def eye_boxes(self, pad: float = 0.6) -> list[tuple[float, float, float, float]]:
        """Each eye's points' bounding box, grown by `pad` of its width on every side."""
        boxes = []
        for eye in (self.points[36:42], self.points[42:48]):
            (x0, y0), (x1, y1) = eye.min(0), eye.max(0)
            p = pad * (x1 - x0)
            boxes.append((float(x0 - p), float(y0 - p), float(x1 + p), float(y1 + p)))
        return boxes


def models_folder() -> Path:
    """The folder of dlib's model files in face_recognition_models; a clear error when
    missing."""
    # Located, not imported: the package's __init__ needs pkg_resources, which is deprecated.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DcganError(f"face_recognition_models is not installed: {install_hint('landmarks')}")
    return Path(spec.submodule_search_locations[0]) / "models"


@functools.cache
def _models():
    """dlib's HOG face detector and the 68-point predictor; a clear error when missing."""
    dlib = require("landmarks", "dlib")
    path = models_folder() / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))


def require_landmarks() -> None:
    """Fail early, in one line naming the extra, when dlib, its predictor or OpenCV is
    missing (before a verb loads a model or draws a sample)."""
    _models()
    require("landmarks", "cv2")


def _yaw(points: np.ndarray, side: int) -> float:
    cv2 = require("landmarks", "cv2")

    camera = np.array([[side, 0, side / 2], [0, side, side / 2], [0, 0, 1]], dtype=np.float64)
    image = points[PNP_POINTS].astype(np.float64)
    # Started from a frontal face in front of the camera: without a start the iterative
    # solver sometimes lands on a mirrored pose (a face and its mirror image then disagree).
    rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [1000.0]])
    ok, rvec, _ = cv2.solvePnP(
        MODEL_3D, image, camera, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return float("nan")
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]
    return float(angles[1])


def _mouth(points: np.ndarray) -> float:
    gap = np.linalg.norm(points[[61, 62, 63]] - points[[67, 66, 65]], axis=1).mean()
    return float(gap / max(np.linalg.norm(points[64] - points[60]), 1e-6))


def _bridge(grey: np.ndarray, points: np.ndarray) -> float:
    """Strongest mean |d/dy| of a row across the nose between the inner eye corners, from the
    brows down to the lower eyelids, in units of the face's own contrast."""
    x0, x1 = sorted((points[39, 0], points[42, 0]))
    w = max(x1 - x0, 2.0)
    xa, xb = int(x0 + 0.25 * w), int(np.ceil(x1 - 0.25 * w))
    ya = int(min(points[[21, 22], 1].min(), points[27, 1]))
    yb = int(np.ceil(max(points[[40, 41, 46, 47], 1].max(), points[28, 1])))
    h, wd = grey.shape
    xa, xb, ya, yb = max(xa, 0), min(xb, wd), max(ya, 0), min(yb, h - 1)
    if xb - xa < 2 or yb - ya < 3:
        return 0.0
    patch = grey[ya : yb + 1, xa:xb].astype(np.float64)
    rows = np.abs(np.diff(patch, axis=0)).mean(1)
    (fx0, fy0), (fx1, fy1) = np.clip(points[17:48].min(0), 0, None), points[17:48].max(0)
    face = grey[int(fy0) : int(fy1) + 1, int(fx0) : int(fx1) + 1]
    contrast = max(float(face.std()) if face.size > 4 else 0.0, 8.0)
    return float(rows.max() / contrast)


def face_boxes(images: torch.Tensor) -> tuple[list[np.ndarray], list, Any]:
    """Each image in [-1, 1] as RGB uint8 at SIDE px, its largest dlib face box (None where
    none is found), and the box to read the others in: the found boxes' median."""
    cv2, dlib = require("landmarks", "cv2"), require("landmarks", "dlib")
    detector = _models()[0]
    big, boxes = [], []
    for a in to_uint8(images):
        rgb = np.repeat(a, 3, -1) if a.shape[-1] == 1 else a
        b = cv2.resize(np.ascontiguousarray(rgb), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
        found = detector(b, 0)
        big.append(b)
        boxes.append(max(found, key=lambda r: r.area()) if len(found) else None)
    known = [(r.left(), r.top(), r.right(), r.bottom()) for r in boxes if r is not None]
    median = np.median(known, 0) if known else (SIDE * 0.2, SIDE * 0.25, SIDE * 0.8, SIDE * 0.85)
    return big, boxes, dlib.rectangle(*(int(round(v)) for v in median))


def faces(images: torch.Tensor) -> list[Face]:
    """The landmarks (and pose, mouth, glasses) of each image in [-1, 1]."""
    cv2 = require("landmarks", "cv2")
    predictor = _models()[1]
    scale = images.shape[-1] / SIDE
    big, boxes, fallback = face_boxes(images)
    out = []
    for b, r in zip(big, boxes, strict=True):
        shape = predictor(b, r if r is not None else fallback)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        grey = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        out.append(
            Face(pts * scale, r is not None, _yaw(pts, SIDE), _mouth(pts), _bridge(grey, pts))
        )
    return out
