"""Paper §6.2 (Fig. 5): guided backpropagation of D's last-layer features.

For real images, the channels of D's last conv layer with the highest activations are traced
back to the pixels with guided backpropagation (Springenberg et al. 2015), for the trained D
and, as the paper's baseline, for a randomly initialised D of the same architecture.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from dcgan.conventions import to_unit_range
from dcgan.data.packed import resolve_data
from dcgan.errors import DcganError
from dcgan.experiments.figures import labelled, png_path, save_json, stack
from dcgan.experiments.options import VisualizeConfig
from dcgan.models import Discriminator
from dcgan.options import configure
from dcgan.sampling import Loaded, grid_image, save_png

RECTIFIERS = (nn.ReLU, nn.LeakyReLU)


class GuidedBackprop:
    """While active, every ReLU and LeakyReLU of `net` passes back only the positive part of
    the incoming gradient, and only where its forward input was positive.

    LeakyReLU is treated as a ReLU: the gradient its 0.2 slope would pass for negative inputs
    is dropped, so both parts of the rule (positive forward input, positive gradient) hold as
    for ReLU. Backward hooks cannot wrap in-place ops, so in-place is switched off meanwhile.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.rectifiers = [m for m in net.modules() if isinstance(m, RECTIFIERS)]
        self.inputs: dict[nn.Module, torch.Tensor] = {}
        self.handles: list = []
        self.inplace: list[bool] = []

    def _keep(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.inputs[module] = inputs[0].detach()

    def _guide(self, module: nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
        return (grad_output[0].clamp(min=0) * (self.inputs[module] > 0),)

    def __enter__(self) -> GuidedBackprop:
        for m in self.rectifiers:
            self.inplace.append(m.inplace)
            m.inplace = False
            self.handles.append(m.register_forward_hook(self._keep))
            self.handles.append(m.register_full_backward_hook(self._guide))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        for m, inplace in zip(self.rectifiers, self.inplace, strict=True):
            m.inplace = inplace
        self.handles, self.inplace, self.inputs = [], [], {}


def top_channels(d: Discriminator, images: torch.Tensor, k: int) -> list[int]:
    """The k channels of D's last conv layer with the highest mean (over images) peak."""
    with torch.no_grad():
        peaks = d.features(images)[-1].amax(dim=(2, 3)).mean(0)
    return peaks.topk(min(k, len(peaks))).indices.tolist()


def guided_gradients(d: Discriminator, images: torch.Tensor, channels: list[int]) -> torch.Tensor:
    """(N, len(channels), C, H, W): the guided gradient of each channel's strongest response
    (its maximum over positions) with respect to each image. D must be in eval mode, so
    images do not interact through BatchNorm."""
    d = copy.deepcopy(d).eval()
    out = []
    with GuidedBackprop(d):
        for c in channels:
            x = images.clone().requires_grad_(True)
            d.features(x)[-1][:, c].flatten(1).amax(1).sum().backward()
            out.append(x.grad.detach())
    return torch.stack(out, 1)


def random_discriminator(model: Loaded, images: torch.Tensor, seed: int = 0) -> Discriminator:
    """D's architecture freshly initialised (N(0, 0.02)); its BatchNorm statistics are those
    of `images`, since an untrained D has no running statistics to speak of."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        d = Discriminator(model.discriminator.config)
    for m in d.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    d.train()
    with torch.no_grad():
        d(images)
    return d.eval()


def focus(grads: torch.Tensor, share: float = 0.1) -> float:
    """Mean share of each map's gradient mass (|g| summed over colour) that lies in its
    `share` strongest pixels: 0.1 for a flat map, near 1 for a few bright spots."""
    mass = grads.abs().sum(-3).flatten(-2)
    top = mass.topk(max(1, round(share * mass.shape[-1])), dim=-1).values.sum(-1)
    return (top / mass.sum(-1).clamp_min(1e-12)).mean().item()


def _display(grads: torch.Tensor) -> torch.Tensor:
    """Each map scaled so its 99th-percentile |value| is 1 (grey is zero), as an image."""
    flat = grads.flatten(-3).abs()
    scale = flat.quantile(0.99, dim=-1).clamp_min(1e-12)
    return (grads / scale[..., None, None, None]).clamp(-1, 1)


@dataclass
class Visualization:
    """Real images and the guided gradients of chosen channels for the trained and a
    random D."""

    images: torch.Tensor  # (N, C, S, S) in [-1, 1]
    indices: list[int]  # positions of the images in the data
    channels: dict[str, list[int]]  # "trained" / "random" -> channels shown
    grads: dict[str, torch.Tensor]  # same keys -> (N, K, C, S, S)
    record_: dict

    def record(self) -> dict:
        return {
            **self.record_,
            "focus_top10": {n: round(focus(g), 4) for n, g in self.grads.items()},
        }

    def figure(self) -> Image.Image:
        """Per D: one row per image, the image then one guided-gradient map per channel."""
        panels = []
        for name, grads in self.grads.items():
            k = grads.shape[1]
            tiles = torch.cat([self.images[:, None], _display(grads)], 1).flatten(0, 1)
            title = f"{name} D, channels {','.join(map(str, self.channels[name]))}"
            panels.append(labelled(grid_image(tiles, k + 1), title))
        return stack(panels, gap=12)

    def save(self, out: str | Path) -> list[Path]:
        png = png_path(out, "visualize")
        return [save_png(self.figure(), png), save_json(png.with_suffix(".json"), self.record())]


def visualize(
    model: Loaded, data: str | Path, config: VisualizeConfig | None = None, **options: Any
) -> Visualization:
    """Fig. 5: guided backprop of D's most active last-layer channels (or `d_channels`, the
    same for both Ds) on images first..first+images-1 of `data`, for the trained D and a
    random one; `options` are VisualizeConfig's fields."""
    c = configure(VisualizeConfig, config, options)
    n, k, first, seed, cache = c.images, c.top_channels, c.first, c.seed, c.cache
    channels = list(c.d_channels) if c.d_channels is not None else None
    m = model.needs_d("visualize").config
    data_images = resolve_data(data, m.size, m.channels, cache=cache, progress=False).images
    if first + n > len(data_images):
        raise DcganError(f"{data} has {len(data_images)} images: cannot show {n} from {first}")
    raw = torch.from_numpy(np.array(data_images[first : first + n]))
    images = to_unit_range(raw)
    device = next(model.discriminator.parameters()).device
    ds = {"trained": model.discriminator, "random": random_discriminator(model, images, seed)}
    width = model.discriminator.blocks[-1][0].out_channels
    if channels is not None and not all(0 <= c < width for c in channels):
        raise DcganError(f"D's last conv layer has channels 0..{width - 1}, got {channels}")
    chosen, grads = {}, {}
    for name, d in ds.items():
        d = d.to(device)
        x = images.to(device)
        chosen[name] = list(channels) if channels is not None else top_channels(d, x, k)
        grads[name] = guided_gradients(d, x, chosen[name]).cpu()
    record = {
        "data": str(data),
        "images": list(range(first, first + n)),
        "layer": f"D's last conv layer ({width} channels)",
        "channels": chosen,
        "random_seed": seed,
        "rule": "guided backprop; LeakyReLU treated as ReLU",
    }
    return Visualization(images, record["images"], chosen, grads, record)
