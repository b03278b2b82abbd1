"""Landmark detectors (dcgan.experiments.landmarks) on real CelebA faces."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("dlib", reason='landmarks need dlib-bin: pip install "dcgan[landmarks]"')
from dcgan.experiments.landmarks import faces  # noqa: E402


def celeba(shared, n: int = 24) -> torch.Tensor:
    """The first n CelebA aligned faces, centre-cropped square, 64 px, in [-1, 1]."""
    path = shared / "celeba_aligned_00.tar"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    out = []
    with tarfile.open(path) as tar:
        for member in tar:
            if len(out) == n:
                break
            if member.isfile() and member.name.lower().endswith(".jpg"):
                im = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
                im = im.crop((0, 20, 178, 198)).resize((64, 64), Image.BICUBIC)
                out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 127.5 - 1


def test_real_faces_are_found_and_mirrors_turn_the_other_way(shared):
    images = celeba(shared)
    found = faces(images)
    assert sum(f.found for f in found) >= 20  # aligned, frontal-ish faces
    mirrored = faces(images.flip(-1))
    pairs = [(a.yaw, b.yaw) for a, b in zip(found, mirrored, strict=True) if a.found and b.found]
    turned = [(a, b) for a, b in pairs if abs(a) > 8]
    assert turned, "no face in the sample is turned"
    assert all(a * b < 0 and abs(a + b) < 8 for a, b in turned), turned
    for f in found:
        left, right = f.eye_boxes()
        assert left[2] <= right[0] + 2  # the image-left eye lies left of the other
        assert 5 < (left[1] + left[3]) / 2 < 45  # eyes in the upper part of the face crop
        assert 0 <= f.mouth < 1.5 and f.bridge >= 0
