"""The memorisation check: nearest training images of samples, in pixels and in D's features.

The number compares the mean nearest-neighbour distance from samples to a reference part of
the training data with the same distance from held-out real images (the data's last images)
to that reference. Samples much closer than held-out images (ratio well under 1) would be
copies; a ratio near or above 1 means samples are no nearer to training images than new
real images are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dcgan.conventions import to_unit_range, z_from_seeds
from dcgan.data.packed import resolve_data
from dcgan.errors import DcganError
from dcgan.experiments.figures import labelled, png_path, save_json, stack
from dcgan.experiments.options import NeighborsConfig
from dcgan.options import configure
from dcgan.sampling import Loaded, generate, grid_image, save_png

SPACES = ("pixel", "feature")
CAVEAT = (
    "the nearest training images of each sample: a near one is evidence of memorisation, none"
    " near is not proof of none (pixel distance misses shifted, flipped or recoloured copies;"
    " D features see only what D learned to tell apart)"
)
TITLES = {"pixel": "pixels", "feature": "D features (last conv layer)"}


@dataclass
class Neighbors:
    """Nearest reference images of samples; distances of samples and held-out images."""

    samples: torch.Tensor  # (n, C, S, S) the samples shown on the sheet
    reference: torch.Tensor  # uint8 (R, C, S, S), the training images searched
    index: dict[str, torch.Tensor]  # space -> (n, k) reference indices, nearest first
    distance: dict[str, dict[str, float]]  # space -> mean NN distance of samples and held-out
    record_: dict

    def ratio(self, space: str) -> float:
        """Mean NN distance sample->reference over held-out-real->reference."""
        d = self.distance[space]
        return d["samples"] / d["held_out"]

    def record(self) -> dict:
        ratios = {s: round(self.ratio(s), 4) for s in SPACES}
        return {**self.record_, "distance": self.distance, "ratio": ratios, "caveat": CAVEAT}

    def figure(self) -> Image.Image:
        """One row per sample: the sample, its nearest in pixels, its nearest in D features."""
        ref = to_unit_range(self.reference)
        k = self.index["pixel"].shape[1]
        columns = [labelled(grid_image(self.samples, 1), "sample")]
        for space in SPACES:
            nearest = ref[self.index[space].flatten()]
            columns.append(labelled(grid_image(nearest, k), f"nearest in {TITLES[space]}"))
        return stack(columns, gap=10)

    def save(self, out: str | Path) -> list[Path]:
        png = png_path(out, "neighbors")
        return [save_png(self.figure(), png), save_json(png.with_suffix(".json"), self.record())]


@torch.no_grad()
def _features(model: Loaded, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """D's last conv layer, flattened (eval-mode BatchNorm, as trained)."""
    d = model.discriminator
    device = next(d.parameters()).device
    return torch.cat([d.features(b.to(device))[-1].flatten(1).cpu() for b in x.split(batch)])


def _nearest(queries: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (RMS over dimensions) and indices of the k nearest rows of `ref`, chunked."""
    best_d, best_i = [], []
    for q in queries.split(256):
        d = torch.cdist(q, ref) / ref.shape[1] ** 0.5
        v, i = d.topk(k, largest=False)
        best_d.append(v)
        best_i.append(i)
    return torch.cat(best_d), torch.cat(best_i)


def neighbors(
    model: Loaded,
    data: str | Path,
    config: NeighborsConfig | None = None,
    bn: str = "batch",
    **options: Any,
) -> Neighbors:
    """Nearest neighbors of samples 0..n-1 on a sheet; distance statistics over
    `ratio_samples` samples and the data's last `held_out` images against the rest of the
    data. `options` are NeighborsConfig's fields."""
    c = configure(NeighborsConfig, config, options)
    n, k, n_stats, held_out, cache = c.n, c.k, c.ratio_samples, c.held_out, c.cache
    model.needs_d("neighbors")  # its feature space is D's
    m = model.generator.config
    images = resolve_data(data, m.size, m.channels, cache=cache, progress=False).images
    if len(images) < held_out + k:
        raise DcganError(f"{data} has {len(images)} images: too few to hold out {held_out}")
    reference = torch.from_numpy(np.array(images[: len(images) - held_out]))
    real = to_unit_range(torch.from_numpy(np.array(images[len(images) - held_out :])))
    seeds = list(range(n_stats))
    fake = generate(model.generator, z_from_seeds(seeds, m.nz, model.config.z_dist), bn)
    ref = to_unit_range(reference)
    spaces = {
        "pixel": (fake.flatten(1), real.flatten(1), ref.flatten(1)),
        "feature": (_features(model, fake), _features(model, real), _features(model, ref)),
    }
    index, distance = {}, {}
    for space, (f, r, rf) in spaces.items():
        df, index[space] = _nearest(f[:n_stats], rf, k)
        dr, _ = _nearest(r, rf, 1)
        distance[space] = {"samples": df[:, 0].mean().item(), "held_out": dr[:, 0].mean().item()}
        if not distance[space]["held_out"] > 0:  # the ratio's denominator
            raise DcganError(f"the held-out images of {data} all have exact copies in the rest")
        index[space] = index[space][:n]
    record = {
        "data": str(data),
        "samples": {"seeds": f"0-{n_stats - 1}", "shown": n, "k": k},
        "reference": f"images 0..{len(reference) - 1}",
        "held_out": f"images {len(reference)}..{len(images) - 1}",
        "nearest_shown": {s: index[s].tolist() for s in SPACES},
    }
    return Neighbors(fake[:n], reference, index, distance, record)
