"""Feature extractors: uint8 images (N, C, H, W) -> `Features` (embedding and class logits).

- `inception` (the default): the field's FID network offline, StyleGAN2-ADA's TorchScript
  Inception-v3 with NVIDIA's preprocessing (dcgan.metrics.inception_nvidia), installed by
  `dcgan pull inception`; 2048-d pool features, no logits (IS takes `inception-fidelity`'s).
- `inception-fidelity`: torch-fidelity's Inception-v3 (the same TF FID network: TF1-style
  bilinear resize to 299, 2048-d pool features, unbiased logits for IS). Its weights are
  never downloaded here: they come from `--inception-weights PATH` or torch's hub cache,
  else a one-line error.
  Grey images are repeated to RGB by both, as torch-fidelity does with a grey PNG.
- `mnist`: the classifier shipped in the package (penultimate 256-d features, softmax for
  IS): the usual "FID on MNIST", *not* comparable to Inception FID.
- a path: a classifier file written by `dcgan evaluate --train-extractor`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from dcgan.conventions import to_unit_range
from dcgan.errors import DcganError
from dcgan.extras import require
from dcgan.metrics.fidelity import Features
from dcgan.metrics.mnist_classifier import DEFAULT_WEIGHTS, load_mnist_classifier
from dcgan.options import CACHE

# Below this mean confidence (max softmax) of the MNIST classifier, the real images are no
# digits to it. Measured on 1,000 images at 16-64 px: MNIST 0.98-0.99, sklearn's 8x8 digits
# 0.68-0.72, Fashion-MNIST 0.53-0.61; grey CIFAR-10 0.12, grey CelebA 0.15, inverted MNIST
# 0.18, uniform noise 0.10. The line lies between the foreign data and the digits.
MNIST_CONFIDENCE = 0.4
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
)


def file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


class Extractor:
    """Base: `name` identifies the network and its weights (it keys the real-stats cache)."""

    name: str
    batch_size: int = 500
    has_logits: bool = True

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def check_channels(self, channels: int, what: str) -> None:
        """Refuse images of `channels` (those of `what`) that the network was not made for."""

    def domain_warning(self, real: torch.Tensor) -> str | None:
        """A line saying that the real images' features `real` look foreign to the network."""
        return None

    def batch(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> Features:
        """Features of uint8 images, in batches of `batch_size` (logits None without)."""
        feats, logits = [], []
        for chunk in images.split(self.batch_size):
            f, lg = self.batch(chunk.to(self.device))
            feats.append(f.float().cpu())
            if lg is not None:
                logits.append(lg.float().cpu())
        return Features(torch.cat(feats), torch.cat(logits) if logits else None)


class ClassifierExtractor(Extractor):
    """A small CNN classifier: penultimate features and class logits."""

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu"):
        super().__init__(device)
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        self.net = load_mnist_classifier(path, self.device)
        self.path, self.mnist = path, path == DEFAULT_WEIGHTS
        self.name = f"{'mnist' if self.mnist else 'classifier'}-{file_digest(path)}"

    def batch(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.net.features(to_unit_range(images))
        return f, self.net.head(f)

    def check_channels(self, channels: int, what: str) -> None:
        """Its net averages colour to grey (or repeats grey): features of images it never
        saw, which give numbers that look good and mean nothing."""
        want = self.net.channels
        if channels == want:
            return
        made = (
            "the mnist extractor is for 1-channel images (MNIST digits)"
            if self.mnist
            else f"extractor {self.path} was trained on {want}-channel images"
        )
        raise DcganError(
            f"{made}, and {what} makes {channels}-channel images: use --extractor inception,"
            " or a classifier of this data (--train-extractor --data LABELLED)"
        )

    def domain_warning(self, real: torch.Tensor) -> str | None:
        """The MNIST classifier's mean confidence (max softmax) on the real images: far
        below what digits give (see MNIST_CONFIDENCE), the real images are no digits."""
        if not self.mnist:
            return None
        with torch.no_grad():
            logits = self.net.head(real.to(self.device, torch.float32))
            confidence = float(logits.softmax(1).max(1).values.mean())
        if confidence >= MNIST_CONFIDENCE:
            return None
        return (
            f"the real images are not digits to the mnist extractor (mean confidence"
            f" {confidence:.2f}; MNIST gives 0.99): its numbers do not measure these images;"
            " use --extractor inception or --train-extractor"
        )


def inception_weights_path(path: str | Path | None = None) -> Path:
    """The Inception weights file: `path`, else torch's hub cache; a clear error if absent."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise DcganError(f"Inception weights not found at {path} (get {INCEPTION_URL})")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if not cached.is_file():
        raise DcganError(
            f"torch-fidelity's Inception-v3 weights missing: download {INCEPTION_URL} and put"
            f" it at {cached} (or pass --inception-weights FILE), or use --extractor inception"
        )
    return cached


class InceptionExtractor(Extractor):
    """torch-fidelity's Inception-v3 (`inception-fidelity`), built through torch-fidelity's
    own factory."""

    batch_size = 64  # torch-fidelity's default, so batches (and float sums) match its CLI

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu"):
        super().__init__(device)
        tf_utils = require("metrics", "torch_fidelity.utils")
        path = inception_weights_path(weights)
        try:  # check it is a plain state dict before torch-fidelity loads it unrestricted
            torch.load(path, map_location="cpu", weights_only=True)
            self.net = tf_utils.create_feature_extractor(
                "inception-v3-compat",
                ["2048", "logits_unbiased"],
                cuda=False,
                feature_extractor_weights_path=str(path),
                verbose=False,
            ).to(self.device)
        except Exception as e:  # unreadable file, wrong keys or shapes
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise DcganError(f"Inception weights at {path} are unusable ({first})") from None
        self.name = f"inception-fidelity-{file_digest(path)}"

    def batch(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.net(images.contiguous())


class NvidiaInceptionExtractor(Extractor):
    """The TorchScript Inception of StyleGAN2-ADA (`inception`), through torch-fidelity's
    factory as its registered `inception-v3-nvidia`."""

    batch_size = 64
    has_logits = False

    def __init__(self, cache: str | Path = CACHE, device: str | torch.device = "cpu"):
        super().__init__(device)
        from dcgan.metrics import inception_nvidia as nv

        nv.register()
        tf_utils = require("metrics", "torch_fidelity.utils")
        self.net = tf_utils.create_feature_extractor(
            nv.FIDELITY_NAME,
            ["2048"],
            cuda=False,
            feature_extractor_weights_path=str(nv.find_inception(cache)),
            verbose=False,
        ).to(self.device)
        # the preprocessing's version is part of the name: it keys the real-stats cache
        self.name = f"inception-nvidia-{nv.SHA256[:16]}"

    def batch(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.net(images)[0], None


def get_extractor(
    name: str | Path,
    inception_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    cache: str | Path = CACHE,
) -> Extractor:
    """`inception` (installed in `cache` by `dcgan pull inception`), `inception-fidelity`
    (torch-fidelity's weights: `inception_weights` or torch's hub cache), `mnist`, or the
    path of a classifier from `--train-extractor`."""
    if str(name) == "inception":
        return NvidiaInceptionExtractor(cache, device)
    if str(name) == "inception-fidelity":
        return InceptionExtractor(inception_weights, device)
    if str(name) == "mnist":
        return ClassifierExtractor(None, device)
    if not Path(name).is_file():
        raise DcganError(
            f"unknown extractor {str(name)!r}: use inception, inception-fidelity, mnist or a"
            " .pt file"
        )
    return ClassifierExtractor(name, device)
