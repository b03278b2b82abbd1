"""Loading trained generators, drawing z, sampling, and writing image grids.

BatchNorm at sampling time (measured in docs/training.md): `batch` normalises with the statistics
of a fixed reference batch of 512 latents, as the paper's code normalised with the
statistics of the sampled batch, but deterministic, so one seed always gives one image
whatever else is in the batch. `running` uses the running averages kept during training.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from dcgan.checkpoint import checkpoint_config, find_checkpoint, load_checkpoint
from dcgan.conventions import quantize, sample_z, truncate, z_from_seeds
from dcgan.devices import resolve_precision
from dcgan.errors import DcganError, first_line
from dcgan.io import check_overwrite, write_output
from dcgan.models import Discriminator, Generator
from dcgan.options import configure
from dcgan.options_tools import SampleConfig
from dcgan.package import is_package, load_package
from dcgan.trained import Loaded, check_finite

BN_MODES = ("batch", "running")
REFERENCE_SEED = 2**31 - 1
REFERENCE_SIZE = 512


def load(path: str | Path, ema: bool = True, device: str | torch.device = "cpu") -> Loaded:
    """Load a checkpoint file, run directory or model package (dcgan.package) for sampling
    and analysis (eval mode); weights that are not finite are refused."""
    if is_package(path):
        return load_package(path, ema, device)
    ckpt = load_checkpoint(path, map_location=device)
    config = checkpoint_config(ckpt["config"], path)
    try:
        g = Generator(config.model)
        key = "G_ema" if ema and ckpt.get("G_ema") is not None else "G"
        g.load_state_dict(ckpt[key])
        d = None
        if ckpt.get("D") is not None:  # a converted generator-only model has no D
            d = Discriminator(config.model)
            d.load_state_dict(ckpt["D"])
    except Exception as e:  # the loader policy: whatever does not fit is one line
        raise DcganError(
            f"{path}: checkpoint does not match its architecture ({first_line(e)})"
        ) from None
    where = find_checkpoint(path)
    check_finite(g.state_dict(), f"{where}: its {key}")
    if d is not None:
        check_finite(d.state_dict(), f"{where}: its D")
    g.to(device).eval()
    if d is not None:
        d.to(device).eval()
    source = ckpt.get("source") if isinstance(ckpt.get("source"), dict) else None
    return Loaded(g, d, config, int(ckpt.get("step", 0)), Path(path), key == "G_ema", source)


def with_bn_mode(g: nn.Module, bn: str, z_dist: str = "uniform") -> nn.Module:
    """A copy of G in eval mode whose BatchNorm uses the chosen statistics (G is untouched)."""
    if bn not in BN_MODES:
        raise DcganError(f"unknown BatchNorm mode {bn!r}: use one of {', '.join(BN_MODES)}")
    g = copy.deepcopy(g)
    if bn == "batch":
        nz = g.config.nz
        device = next(g.parameters()).device
        z = sample_z(REFERENCE_SIZE, nz, z_dist, torch.Generator().manual_seed(REFERENCE_SEED))
        for m in g.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average: exactly the reference batch's stats
        g.train()
        with torch.no_grad():
            g(z.to(device))
    return g.eval()


@torch.no_grad()
def generate(
    g: nn.Module,
    z: torch.Tensor,
    bn: str = "batch",
    z_dist: str = "uniform",
    batch_size: int = 256,
    compile: bool = False,
    precision: str = "fp32",
) -> torch.Tensor:
    """Images in [-1, 1] for latents z, on the CPU. G runs in channels-last memory (same
    images, faster); `compile` also runs it through torch.compile, worth its one-off
    compile for many thousands of images (bench/sample_speed.py); `precision` bf16 runs it
    under bf16 autocast (convolutions in bf16, the images returned in fp32)."""
    g = with_bn_mode(g, bn, z_dist).to(memory_format=torch.channels_last)
    device = next(g.parameters()).device
    run = torch.compile(g) if compile else g
    mixed = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    with mixed:
        images = [run(zb.to(device)).float().cpu() for zb in z.split(batch_size)]
    return torch.cat(images).contiguous()


def sample(
    model: Loaded | nn.Module,
    seeds: Iterable[int] | None = None,
    config: SampleConfig | None = None,
    bn: str = "batch",
    z_dist: str | None = None,
    **options: Any,
) -> torch.Tensor:
    """Images for `seeds` (default 0..n-1), in [-1, 1], shape (len(seeds), C, S, S);
    `options` are SampleConfig's fields (n, compile, precision, truncation)."""
    c = configure(SampleConfig, config, options)
    n, compile = c.n, c.compile
    if isinstance(model, Loaded):
        g, z_dist = model.generator, z_dist or model.config.z_dist
    else:
        g, z_dist = model, z_dist or "uniform"
    seeds = list(range(n)) if seeds is None else list(seeds)
    z = truncate(z_from_seeds(seeds, g.config.nz, z_dist), c.truncation)
    precision = resolve_precision(c.precision, next(g.parameters()).device, cpu_bf16=True)
    return generate(g, z, bn, z_dist, compile=compile, precision=precision)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows a and b at fractions t (falls back to lerp,
    also for a zero vector: the mean latent of truncation 0)."""
    if not (a.norm() > 0 and b.norm() > 0):
        return torch.lerp(a, b, t[:, None])
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t[:, None])
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / so


def walk(points: torch.Tensor, steps: int, spherical: bool = False) -> torch.Tensor:
    """Latents along a path through `points` (k, nz): `steps` per segment, endpoints included."""
    t = torch.linspace(0, 1, steps + 1)[:-1]
    segs = [
        slerp(a, b, t) if spherical else torch.lerp(a, b, t[:, None])
        for a, b in zip(points[:-1], points[1:], strict=True)
    ]
    return torch.cat([*segs, points[-1:]])


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) -> uint8 (N, H, W, C), the layout of PIL and OpenCV."""
    return quantize(images).permute(0, 2, 3, 1).numpy()


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile images in [-1, 1] into one picture with white gutters."""
    nrow = nrow or max(1, math.ceil(math.sqrt(len(images))))
    grid = make_grid(images.clamp(-1, 1), nrow=nrow, padding=padding, pad_value=1.0)
    return Image.fromarray(to_uint8(grid[None])[0].squeeze())


def save_png(image: Image.Image, path: str | Path) -> Path:
    """A PNG written atomically; a failed write is one line naming the file (`write_output`)."""
    return write_output(path, lambda f: image.save(f, format="PNG"))


def save_grid(
    images: torch.Tensor, path: str | Path, nrow: int | None = None, force: bool = False
) -> Path:
    """One PNG grid, written atomically; an existing file that is no image (a checkpoint
    above all) is replaced only with `force`."""
    return save_png(grid_image(images, nrow), check_overwrite(path, "image", force))


def save_each(images: torch.Tensor, seeds: list[int], directory: str | Path) -> list[Path]:
    """One PNG per image, named by its seed."""
    arrays = to_uint8(images)
    return [
        save_png(Image.fromarray(a.squeeze()), Path(directory) / f"seed{s:06d}.png")
        for a, s in zip(arrays, seeds, strict=True)
    ]
