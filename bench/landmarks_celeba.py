"""The landmark detectors of bench/digiface_latent.py on real faces: a labelled sheet.

The first 80 CelebA aligned faces of shared/data/celeba_aligned_00.tar (centre-cropped
square, 64 px, as the DigiFace model's samples) go through dcgan.experiments.landmarks. Each
tile is labelled with what the detectors say (yaw in degrees, M = open mouth, G = glasses,
x = no face found, so landmarks on the median box), so the sheet can be checked by eye.

Run: PYTHONPATH=src python bench/landmarks_celeba.py  (writes docs/landmarks_celeba.png and
bench/results/landmarks_celeba.json).
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
from harness import ROOT, SHARED, write_results
from PIL import Image, ImageDraw

from dcgan.data.packed import to_unit_range
from dcgan.experiments.landmarks import faces
from dcgan.sampling import save_png, to_uint8

TAR = SHARED / "celeba_aligned_00.tar"
N, COLS, TILE = 80, 10, 96


def read(n: int) -> tuple[list[str], torch.Tensor]:
    names, out = [], []
    with tarfile.open(TAR) as tar:
        for member in tar:
            if len(out) == n:
                break
            if member.isfile() and member.name.lower().endswith(".jpg"):
                im = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
                im = im.crop((0, 20, 178, 198)).resize((64, 64), Image.BICUBIC)
                out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
                names.append(Path(member.name).name)
    return names, to_unit_range(torch.stack(out))


def main() -> int:
    if not TAR.is_file():
        print(f"{TAR} is absent", file=sys.stderr)
        return 2
    names, images = read(N)
    found = faces(images)
    sheet = Image.new("RGB", (COLS * TILE, (N // COLS) * TILE), "white")
    for i, (a, f) in enumerate(zip(to_uint8(images), found, strict=True)):
        tile = Image.fromarray(a).resize((TILE, TILE), Image.BICUBIC)
        draw = ImageDraw.Draw(tile)
        for x, y in f.points * TILE / 64:
            draw.point((x, y), fill=(0, 255, 0))
        flags = (
            ("M" if f.mouth_open else "") + ("G" if f.glasses else "") + ("" if f.found else "x")
        )
        draw.rectangle((0, 0, TILE, 11), fill=(0, 0, 0))
        draw.text((2, 0), f"{i} yaw {f.yaw:+.0f} {flags}", fill=(255, 255, 0))
        sheet.paste(tile, ((i % COLS) * TILE, (i // COLS) * TILE))
    save_png(sheet.quantize(256), ROOT / "docs/landmarks_celeba.png")  # a palette: 4x smaller
    record = [
        {
            "file": name,
            "found": f.found,
            "yaw": round(f.yaw, 1),
            "mouth_ratio": round(f.mouth, 3),
            "bridge": round(f.bridge, 3),
            "mouth_open": f.mouth_open,
            "glasses": f.glasses,
        }
        for name, f in zip(names, found, strict=True)
    ]
    write_results("landmarks_celeba", record, indent=1)
    print(
        f"{sum(f.found for f in found)}/{N} faces found, {sum(f.mouth_open for f in found)} "
        f"open mouths, {sum(f.glasses for f in found)} with glasses; sheet in docs/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
