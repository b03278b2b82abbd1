"""The paper authors' own SVHN generator (paper §5.2), converted and sampled.

Converts the released model in shared/data/newmu_svhn_dcgan with `dcgan convert`, then
writes the figures of docs/convert.md: a grid of 64 samples (docs/newmu_svhn_samples.png) and six
latent walks between random points of z (docs/newmu_svhn_walk.png, paper §6.1), both shown
at 2x so the house numbers are legible. A few seconds on a CPU.

    python bench/newmu_svhn.py [--src shared/data/newmu_svhn_dcgan]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import ROOT, SHARED, parse_args, write_results
from PIL import Image

from dcgan.convert import convert
from dcgan.options import opt
from dcgan.sampling import generate, grid_image, load, sample, save_png, walk, z_from_seeds

WALKS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)]
STEPS = 9  # images per walk: STEPS + 1


def save_2x(images: torch.Tensor, path: Path, nrow: int) -> Path:
    grid = grid_image(images, nrow=nrow)
    return save_png(grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST), path)


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    src: str = opt(str(SHARED / "newmu_svhn_dcgan"))
    out: str = opt(str(ROOT / "bench" / "runs" / "newmu_svhn.pt"))


def main() -> None:
    args = parse_args(Args, __doc__)

    t0 = time.monotonic()
    release = convert(args.src, args.out)
    model = load(args.out)  # what every verb sees: no flags needed
    docs = ROOT / "docs"
    grid = save_2x(sample(model, n=64), docs / "newmu_svhn_samples.png", nrow=8)
    nz, z_dist = model.generator.config.nz, model.config.z_dist
    z = torch.cat([walk(z_from_seeds(list(pair), nz, z_dist), STEPS) for pair in WALKS])
    strip = save_2x(generate(model.generator, z, z_dist=z_dist), docs / "newmu_svhn_walk.png", 10)
    wall = time.monotonic() - t0
    out = {
        "source": {k: v for k, v in release.source.items() if k != "folder"},
        "config": release.config.to_dict()["model"],
        "z_dist": z_dist,
        "wall_seconds": round(wall, 1),
        "samples": str(grid.relative_to(ROOT)),
        "walk": str(strip.relative_to(ROOT)),
    }
    path = write_results("newmu_svhn", out)
    print(f"{release.layout.about}: converted and sampled in {wall:.1f} s")
    print(f"  samples: {grid}\n  walk:    {strip}\n  figures: {path}")


if __name__ == "__main__":
    main()
