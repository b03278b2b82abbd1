"""A small CNN that judges generated MNIST digits and serves as their feature extractor.

Three 3x3 conv blocks (32, 64, 128 channels, each BatchNorm + ReLU + 2x2 max-pool: 28 -> 14
-> 7 -> 3), then fc 1152 -> 256 (the penultimate features) -> dropout -> fc 256 -> 10.
Inputs are images in [-1, 1] (the GAN's pixel range) of any square size, with 1 or 3
channels; they are brought to the net's channels (averaged to grey, or grey repeated) and
resized to 28x28 inside. `bench/mnist_classifier.py` trains it and writes the weights shipped
in `weights/mnist_classifier.pt`; `dcgan evaluate --train-extractor` trains the same net
(any channel and class count) on any labelled dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dcgan.errors import DcganError

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "mnist_classifier.pt"
FEATURE_DIM = 256
NUM_CLASSES = 10
CONFIDENT = 0.9
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv (no bias) -> BatchNorm -> ReLU -> 2x2 max-pool."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class MnistClassifier(nn.Module):
    """Images (N, 1 or 3, H, W) in [-1, 1] -> class logits (N, num_classes)."""

    def __init__(
        self, dropout: float = 0.3, channels: int = 1, num_classes: int = NUM_CLASSES
    ) -> None:
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self.convs = nn.Sequential(
            _conv_block(channels, 32), _conv_block(32, 64), _conv_block(64, 128)
        )
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, FEATURE_DIM, bias=False),
            nn.BatchNorm1d(FEATURE_DIM),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        self.meta: dict = {}  # training record, filled by load_mnist_classifier

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Bring (N, C, H, W) or (N, H, W) images to (N, channels, 28, 28) float: grey or
        colour as the net wants, resized."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DcganError(
                f"classifier expects images shaped (N, 1 or 3, H, W), got {tuple(x.shape)}"
            )
        x = x.float()
        if x.shape[1] == 3 and self.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(
                x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False
            )
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, 256), the embedding used for FID/KID."""
        return self.fc(self.convs(self.prepare(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10)."""
        return self.head(self.dropout(self.features(x)))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities (N, 10)."""
        return F.softmax(self(x), dim=1)


def load_mnist_classifier(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> MnistClassifier:
    """Load trained weights (default: the file shipped in the package), in eval mode.

    Also loads a classifier written by `dcgan evaluate --train-extractor` (its meta says
    its channel and class counts).
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    hint = (
        "make the MNIST one with `python bench/mnist_classifier.py`, or one for any"
        " labelled data with `dcgan evaluate --train-extractor --data LABELLED`"
    )
    if not path.is_file():
        raise DcganError(f"classifier weights not found at {path}; {hint}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        meta = checkpoint.get("meta", {})
        model = MnistClassifier(
            channels=int(meta.get("channels", 1)),
            num_classes=int(meta.get("num_classes", NUM_CLASSES)),
        )
        model.load_state_dict(checkpoint["state_dict"])
        model.meta = dict(checkpoint.get("meta", {}))
    except Exception as exc:  # unreadable file, not a checkpoint, wrong keys or shapes
        lines = str(exc).strip().splitlines()
        reason = _ANSI.sub("", lines[0])[:120] if lines else type(exc).__name__
        raise DcganError(f"classifier weights at {path} are unusable ({reason}); {hint}") from exc
    return model.to(device).eval()


@torch.no_grad()
def classify_samples(
    images: torch.Tensor, classifier: MnistClassifier | None = None, batch_size: int = 500
) -> dict:
    """Label generated images in [-1, 1] and summarise how confident and balanced they are.

    Returns labels (N,), confidences (N,) (max softmax), frac_confident (share with
    confidence >= 0.9), class_fractions (10 floats summing to 1), min/max_class_fraction.
    """
    if len(images) == 0:
        raise DcganError("classify_samples needs at least one image")
    if classifier is None:
        classifier = load_mnist_classifier()
    classifier.eval()
    device = next(classifier.parameters()).device
    probs = torch.cat(
        [
            classifier.predict_proba(images[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )
    confidences, labels = probs.max(dim=1)
    counts = torch.bincount(labels, minlength=NUM_CLASSES)
    fractions = (counts.double() / len(labels)).tolist()
    return {
        "labels": labels,
        "confidences": confidences,
        "frac_confident": float((confidences >= CONFIDENT).double().mean()),
        "class_fractions": fractions,
        "min_class_fraction": min(fractions),
        "max_class_fraction": max(fractions),
    }
