"""Photos into the latent space (`dcgan project`): for each photo, the z whose image G(z)
comes closest, so that the paper's latent tools (§6.1 walks, §6.3.2 arithmetic, which the
paper shows on generated faces only) apply to a user's own pictures.

The search is Adam on z from several starts, the best kept. The prior stays in view: a
uniform prior's z (paper §4) is clamped to its box [-1, 1]^nz after every step, and for
either prior a penalty keeps |z| near the prior's typical norm (sqrt(nz/3) for U[-1, 1],
sqrt(nz) for N(0, I)), where nearly all of its samples lie.

The distance is pixels (mean squared error) plus, when the model has a discriminator,
the distance of D's features (each layer's activations normalised over channels, as LPIPS
does with its network's). No perceptual network with weights shipped in a registry package
fits (LPIPS and DISTS fetch torchvision's ImageNet weights at run time; facenet-pytorch
fetches its recognition weights too), so D, trained on the same images, is the one
network at hand. A generator-only model is projected by pixels alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dcgan.conventions import sample_z, to_unit_range
from dcgan.data.images import convert_or_reason
from dcgan.errors import DcganError
from dcgan.experiments.figures import floats, labelled, png_path, save_json
from dcgan.experiments.options import ProjectConfig
from dcgan.io import write_output
from dcgan.models import Discriminator
from dcgan.options import MAX_SHOWN, configure
from dcgan.sampling import Loaded, grid_image, load, save_png, with_bn_mode

ROWS = 64  # starts searched at once
PRIOR_VARIANCE = {"uniform": 1 / 3, "normal": 1.0}  # per coordinate


def read_photos(images: str | Path, size: int, channels: int) -> tuple[list[str], torch.Tensor]:
    """The photos of a folder (recursive) or one image file, centre-cropped and resized as
    `prepare` does, in [-1, 1]; a file that does not decode is one line naming it."""
    from dcgan.data.encoded import IMAGE_EXTENSIONS, image_files

    path = Path(images)
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise DcganError(f"no image files ({' '.join(sorted(IMAGE_EXTENSIONS))}) in {path}")
    elif path.exists():
        files = [path]
    else:
        raise DcganError(f"{path}: no such file or folder")
    if len(files) > MAX_SHOWN:
        raise DcganError(f"{path}: {len(files)} images, at most {MAX_SHOWN} per run")
    arrays = []
    for f in files:
        out = convert_or_reason(f, size, channels)
        if isinstance(out, str):
            raise DcganError(f"{f}: not an image that decodes ({out})")
        arrays.append(torch.from_numpy(out))
    names = [f.name if f == path else f.relative_to(path).as_posix() for f in files]
    return names, to_unit_range(torch.stack(arrays))


class Distance:
    """Per-image distance of G's images to fixed targets: pixels, plus D's features."""

    def __init__(
        self,
        targets: torch.Tensor,
        d: Discriminator | None,
        pixel_weight: float = 1.0,
        feature_weight: float = 1.0,
    ) -> None:
        self.targets, self.pixel_weight = targets, pixel_weight
        self.d = d if feature_weight > 0 else None
        self.feature_weight = feature_weight if d is not None else 0.0
        if self.d is not None:
            for p in self.d.parameters():
                p.requires_grad_(False)
            with torch.no_grad():
                self.target_features = [_unit(f) for f in self.d.features(targets)]

    @property
    def name(self) -> str:
        return "pixels + D features" if self.d is not None else "pixels"

    def __call__(self, images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Distance of images[i] to targets[index[i]], shape (len(images),)."""
        out = self.pixel_weight * (images - self.targets[index]).pow(2).flatten(1).mean(1)
        if self.d is not None:
            feats = self.d.features(images)
            layers = [
                (_unit(f) - t[index]).pow(2).sum(1).flatten(1).mean(1)
                for f, t in zip(feats, self.target_features, strict=True)
            ]
            out = out + self.feature_weight * torch.stack(layers).mean(0)
        return out


def _unit(features: torch.Tensor) -> torch.Tensor:
    """Activations normalised to unit length over channels at each position (LPIPS)."""
    return features / (features.pow(2).sum(1, keepdim=True).sqrt() + 1e-8)


def norm_penalty(z: torch.Tensor, dist: str) -> torch.Tensor:
    """(|z| / typical norm - 1)^2 per row: 0 on the shell where the prior's samples lie."""
    typical = math.sqrt(z.shape[1] * PRIOR_VARIANCE[dist])
    return (z.norm(dim=1) / typical - 1).pow(2)


@dataclass
class Projection:
    """Each photo, the z found for it, G(z), and how close it came."""

    names: list[str]
    photos: torch.Tensor  # (N, C, S, S) in [-1, 1]
    z: torch.Tensor  # (N, nz)
    images: torch.Tensor  # G(z)
    distance: torch.Tensor  # (N,) the search's distance of the start kept
    measure: str  # what the distance is made of
    z_dist: str
    config: ProjectConfig

    def pixel_mse(self) -> torch.Tensor:
        return (self.images - self.photos).pow(2).flatten(1).mean(1)

    def record(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "z": floats(self.z),
            "z_dist": self.z_dist,
            "distance": self.measure,
            "distances": floats(self.distance),
            "pixel_mse": floats(self.pixel_mse()),
            "options": {k: v for k, v in vars(self.config).items()},
        }

    def sheet(self, pairs_per_row: int = 4) -> Image.Image:
        """photo | reconstruction, side by side, `pairs_per_row` pairs in a row."""
        both = torch.stack([self.photos, self.images], 1).flatten(0, 1)
        caption = f"photo | G(z), {len(self.names)} images, distance: {self.measure}"
        return labelled(grid_image(both, 2 * min(pairs_per_row, len(self.names))), caption)

    def save(self, out: str | Path) -> list[Path]:
        """The sheet PNG, and the z as .npy and .json beside it (row i is point p<i>)."""
        png = png_path(out, "project")
        npy = png.with_suffix(".npy")
        return [
            save_png(self.sheet(), png),
            write_output(npy, lambda f: np.save(f, self.z.numpy().astype(np.float32))),
            save_json(png.with_suffix(".json"), self.record()),
        ]


def search(
    g: torch.nn.Module,
    distance: Distance,
    starts: torch.Tensor,
    index: torch.Tensor,
    c: ProjectConfig,
    dist: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on every start at once (row i aims at target index[i]); the final z and its
    distance (without the prior's penalty)."""
    z = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=c.lr)
    for _ in range(c.search_steps):
        opt.zero_grad(set_to_none=True)
        loss = distance(g(z), index) + c.norm_weight * norm_penalty(z, dist)
        loss.sum().backward()
        opt.step()
        if dist == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)  # the support of U[-1, 1]^nz
    with torch.no_grad():
        return z.detach(), distance(g(z), index)


def project(
    model: Loaded | str | Path,
    images: str | Path | torch.Tensor,
    config: ProjectConfig | None = None,
    bn: str = "batch",
    **options: Any,
) -> Projection:
    """The z of each photo (a folder, an image file, or a tensor (N, C, S, S) in [-1, 1]);
    `options` are ProjectConfig's fields."""
    c = configure(ProjectConfig, config, options)
    model = model if isinstance(model, Loaded) else load(model)
    gc, dist = model.generator.config, model.config.z_dist
    if isinstance(images, torch.Tensor):
        names, photos = [f"image{i}" for i in range(len(images))], images.float()
        if photos.dim() != 4 or photos.shape[1:] != (gc.channels, gc.size, gc.size):
            raise DcganError(f"images must be (N, {gc.channels}, {gc.size}, {gc.size})")
    else:
        names, photos = read_photos(images, gc.size, gc.channels)
    g = with_bn_mode(model.generator, bn, dist)
    for p in g.parameters():
        p.requires_grad_(False)
    distance = Distance(photos, model.discriminator, c.pixel_weight, c.feature_weight)
    n, r = len(photos), c.restarts
    rng = torch.Generator().manual_seed(c.seed)
    starts = sample_z(n * r, gc.nz, dist, rng)
    if c.encoder_steps:
        from dcgan.experiments.encoder import train_encoder

        encoder = train_encoder(g, dist, c.encoder_steps, c.seed)
        with torch.no_grad():
            starts[::r] = encoder(photos)  # the first start of each photo
    index = torch.arange(n).repeat_interleave(r)
    step = max(r, ROWS - ROWS % r)  # whole photos' starts, about ROWS at once (memory)
    found = [
        search(g, distance, starts[i : i + step], index[i : i + step], c, dist)
        for i in range(0, n * r, step)
    ]
    z, d = torch.cat([f[0] for f in found]), torch.cat([f[1] for f in found])
    best = d.view(n, r).argmin(1) + torch.arange(n) * r
    with torch.no_grad():
        recon = g(z[best])
    return Projection(names, photos, z[best], recon, d[best], distance.name, dist, c)
