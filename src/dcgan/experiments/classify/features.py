"""Image features for the linear classifier of paper §5: a discriminator's conv layers
max-pooled to a grid, or raw pixels; extracted in batches without autograd and cached.

§5.1: "we use the discriminator's convolutional features from all layers, maxpooling each
layers representation to produce a 4 x 4 spatial grid. These features are then flattened
and concatenated to form a 28672 dimensional vector".
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dcgan.config import ModelConfig
from dcgan.conventions import to_unit_range
from dcgan.data.packed import PackedDataset
from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.models import Discriminator

FEATURES_VERSION = 1  # bump when the features of a given (model, data) change
# Which statistics D's BatchNorm layers normalise with while features are extracted:
# "running": the running averages of GAN training (over real AND generated batches);
# "batch": each extraction batch's own; "inferred": those of a set of training images,
# as the authors' svhn_semisup_analysis.py does (see `infer_bn_statistics`).
BN_MODES = ("running", "batch", "inferred")


def layer_channels(config: ModelConfig) -> list[int]:
    """Channels of each conv layer of D, input side first: ndf, 2 ndf, 4 ndf, ... by default,
    or the width schedule of a converted model."""
    return [config.ndf * m for m in reversed(config.layer_widths)]


def check_layers(config: ModelConfig, layers: tuple[int, ...] | None) -> tuple[int, ...]:
    """The 1-based conv layers to use (None: all of them), checked against D's depth."""
    count = len(config.layer_widths)
    layers = tuple(layers) if layers else tuple(range(1, count + 1))
    if not all(1 <= i <= count for i in layers) or len(set(layers)) != len(layers):
        raise DcganError(f"layers must be distinct numbers in 1..{count}, got {list(layers)}")
    return tuple(sorted(layers))


def check_grid(grid: int) -> int:
    """Pooling grids larger than D's last map (4 x 4) would repeat values, not pool them."""
    if not 1 <= grid <= 4:
        raise DcganError(f"the pooling grid must lie in 1..4 (D's last map is 4x4), got {grid}")
    return grid


def feature_dim(config: ModelConfig, grid: int = 4, layers: tuple[int, ...] | None = None) -> int:
    """Length of the D feature vector: grid^2 per channel of every chosen layer.

    At 32 px with ndf=256 (the paper's ImageNet D) this is 16 x (256+512+1024) = 28,672.
    """
    channels = layer_channels(config)
    return grid * grid * sum(channels[i - 1] for i in check_layers(config, layers))


def pool_maps(maps: list[torch.Tensor], grid: int = 4) -> torch.Tensor:
    """Each map (N, C, H, W) max-pooled to (N, C, grid, grid), flattened, concatenated."""
    return torch.cat([F.adaptive_max_pool2d(h, grid).flatten(1) for h in maps], 1)


@torch.inference_mode()
def d_features(
    d: Discriminator,
    images: torch.Tensor,
    grid: int = 4,
    layers: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Features of uint8 images (N, C, S, S) from D in its current mode."""
    maps = d.features(to_unit_range(images).to(next(d.parameters()).device))
    chosen = check_layers(d.config, layers)
    return pool_maps([maps[i - 1] for i in chosen], grid).float().cpu()


def check_bn(bn: str) -> str:
    if bn not in BN_MODES:
        raise DcganError(f"the BatchNorm mode must be one of {', '.join(BN_MODES)}, got {bn!r}")
    return bn


def _input_moments(
    d: Discriminator, bn: nn.Module, dataset: PackedDataset, indices: np.ndarray, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of `bn`'s input over the images (float64)."""
    sums: list[torch.Tensor] = []

    def collect(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].double().transpose(0, 1).flatten(1)  # channels x values
        sums.append(torch.stack([x.sum(1), (x * x).sum(1), torch.full_like(x[:, 0], x.shape[1])]))

    device = next(d.parameters()).device
    handle = bn.register_forward_pre_hook(collect)
    try:
        for start in range(0, len(indices), batch_size):
            images = dataset.get_batch(indices[start : start + batch_size])
            d.features(to_unit_range(images).to(device))
    finally:
        handle.remove()
    total, squares, count = torch.stack(sums).sum(0)
    mean = total / count
    return mean, (squares / count - mean * mean).clamp_min(0)


@torch.no_grad()  # not inference_mode: the copy of D must stay a normal module
def infer_bn_statistics(
    d: Discriminator, dataset: PackedDataset, indices: np.ndarray, batch_size: int = 500
) -> Discriminator:
    """A copy of D (eval mode) whose BatchNorm layers hold the mean and biased variance of
    their inputs over `dataset`'s images at `indices`: BatchNorm as if those images were one
    batch. Layer by layer, each pass with the layers below already fixed.

    The authors (svhn_semisup_analysis.py) average 128-image batch statistics over their
    training split in one pass; this is the exact version of the same estimate.
    """
    d = copy.deepcopy(d).eval()
    for bn in [m for m in d.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]:
        mean, var = _input_moments(d, bn, dataset, np.asarray(indices), batch_size)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    return d


def with_batch_statistics(d: Discriminator) -> Discriminator:
    """A copy of D whose BatchNorm layers normalise with each batch's statistics, in eval
    mode and without updating anything."""
    d = copy.deepcopy(d).eval()
    for m in d.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean, m.running_var = None, None
    return d


def prepare_bn(
    d: Discriminator,
    bn: str,
    stats: tuple[PackedDataset, np.ndarray] | None = None,
    batch_size: int = 500,
) -> Discriminator:
    """D ready to extract features with BatchNorm mode `bn` (`stats`: the images whose
    statistics "inferred" uses)."""
    if check_bn(bn) == "batch":
        return with_batch_statistics(d)
    if bn == "inferred":
        if stats is None:
            raise DcganError("inferred BatchNorm statistics need a set of images")
        return infer_bn_statistics(d, *stats, batch_size)
    return d


def shift_offsets(shift: int) -> list[tuple[int, int]]:
    """The 4 x `shift` translations (dy, dx) of `classify --shift`: 1..shift pixels up,
    down, left and right."""
    axes = ((0, 1), (0, -1), (1, 0), (-1, 0))
    return [(s * a, s * b) for s in range(1, shift + 1) for a, b in axes]


def shift_images(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images (N, C, H, W) moved dy pixels down and dx right; the uncovered border repeats
    the nearest edge pixels (MNIST's black margin stays black, a photo's edge is smeared)."""
    h, w = images.shape[-2:]
    p = max(abs(dy), abs(dx))
    if p == 0:
        return images
    padded = F.pad(images.float(), (p, p, p, p), mode="replicate").to(images.dtype)
    return padded[..., p - dy : p - dy + h, p - dx : p - dx + w]


def augment_with_shifts(
    x: torch.Tensor, y: np.ndarray, offsets: list[tuple[int, int]]
) -> tuple[torch.Tensor, np.ndarray]:
    """Images and labels followed by their copies at each offset (same labels)."""
    shifted = [shift_images(x, dy, dx) for dy, dx in offsets]
    return torch.cat([x, *shifted]), np.tile(y, 1 + len(offsets))


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """Raw pixels in [-1, 1], flattened: the baseline without any learned features."""
    return to_unit_range(images).flatten(1)


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def weights_id(module: torch.nn.Module) -> str:
    """A hash of a module's weights and buffers: what its features depend on."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def dataset_id(dataset: PackedDataset) -> str:
    """What identifies a packed dataset's pixels: the hash `prepare` stored, else its path."""
    return dataset.meta.get("images_sha256") or str(dataset.path.resolve())


class FeatureExtractor:
    """Features of chosen images of a packed dataset, computed in batches and cached.

    With `d` None, raw pixels (not cached). The cache key is D's weights and BatchNorm
    statistics, the data, the indices and every option. `bn` names the statistics D's
    BatchNorm layers use (see BN_MODES); D must already be prepared for it
    (`with_batch_statistics`, `infer_bn_statistics`).
    """

    def __init__(
        self,
        d: Discriminator | None,
        grid: int = 4,
        layers: tuple[int, ...] | None = None,
        batch_size: int = 500,
        cache: str | Path | None = None,
        bn: str = "running",
    ) -> None:
        self.d = d
        self.bn = check_bn(bn)
        self.model_id = weights_id(d) if d is not None else None
        self.grid = check_grid(grid)
        self.layers = check_layers(d.config, layers) if d is not None else None
        self.batch_size = batch_size
        self.cache = Path(cache) / "features" if cache else None

    @property
    def dim(self) -> int | None:
        return feature_dim(self.d.config, self.grid, self.layers) if self.d else None

    def _compute(
        self, dataset: PackedDataset, indices: np.ndarray, shift: tuple[int, int]
    ) -> np.ndarray:
        chunks = []
        for start in range(0, len(indices), self.batch_size):
            images = shift_images(
                dataset.get_batch(indices[start : start + self.batch_size]), *shift
            )
            if self.d is None:
                chunks.append(pixel_features(images))
            else:
                chunks.append(d_features(self.d, images, self.grid, self.layers))
        return torch.cat(chunks).numpy()

    def __call__(
        self, dataset: PackedDataset, indices: np.ndarray, shift: tuple[int, int] = (0, 0)
    ) -> np.ndarray:
        """float32 features (len(indices), dim) of `dataset`'s images at `indices`, moved by
        `shift` = (dy, dx) pixels (see `shift_images`)."""
        indices = np.asarray(indices, np.int64)
        shift = (int(shift[0]), int(shift[1]))
        if self.d is None or self.cache is None:
            return self._compute(dataset, indices, shift)
        key = _digest(
            FEATURES_VERSION,
            self.model_id,
            dataset_id(dataset),
            self.grid,
            self.layers,
            self.bn,
            self.batch_size if self.bn == "batch" else None,  # batch statistics depend on it
            hashlib.sha256(indices.tobytes()).hexdigest(),
            *([list(shift)] if any(shift) else []),  # unshifted keys as before
        )
        path = self.cache / f"{key}.npy"
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass  # a damaged cache file: compute it again
        features = self._compute(dataset, indices, shift)
        atomic_write(path, lambda f: np.save(f, features))
        return features
