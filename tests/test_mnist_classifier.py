"""The shipped MNIST judge: loading, accuracy on real digits, input handling, summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dcgan.errors import DcganError
from dcgan.metrics.mnist_classifier import (
    DEFAULT_WEIGHTS,
    FEATURE_DIM,
    MnistClassifier,
    classify_samples,
    load_mnist_classifier,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST = DATA / "mnist.npz"
FASHION = DATA / "fashion_mnist_test_subset1000.npz"
N_TEST = 2000


@pytest.fixture(scope="module")
def classifier() -> MnistClassifier:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_mnist_classifier()


@pytest.fixture(scope="module")
def mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    """The first 2,000 MNIST test images in [-1, 1] and their labels."""
    if not MNIST.is_file():
        pytest.skip(f"MNIST not available at {MNIST} (the shared data folder is absent)")
    with np.load(MNIST) as d:
        x = torch.from_numpy(d["x_test"][:N_TEST]).float().div(127.5).sub(1.0).unsqueeze(1)
        y = torch.from_numpy(d["y_test"][:N_TEST]).long()
    return x, y


def accuracy(model: MnistClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def test_shipped_weights_load(classifier: MnistClassifier) -> None:
    assert DEFAULT_WEIGHTS.is_file()
    assert DEFAULT_WEIGHTS.stat().st_size < 2_000_000
    assert not classifier.training
    assert classifier.meta["test_accuracy"] >= 0.99
    assert {"seed", "data_sha256"} <= classifier.meta.keys()


def test_accuracy_on_real_mnist(classifier, mnist_test) -> None:
    x, y = mnist_test
    assert accuracy(classifier, x, y) >= 0.99


def test_features_and_probabilities(classifier, mnist_test) -> None:
    x = mnist_test[0][:16]
    feats = classifier.features(x)
    assert feats.shape == (16, FEATURE_DIM)
    probs = classifier.predict_proba(x)
    assert probs.shape == (16, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(16))


def test_32px_and_rgb_input(classifier, mnist_test) -> None:
    x, y = mnist_test
    x32 = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    assert accuracy(classifier, x32, y) >= 0.98
    rgb = x[:200].expand(-1, 3, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(classifier(rgb), classifier(x[:200]))


def test_bad_shape_raises(classifier) -> None:
    with pytest.raises(DcganError, match="expects images"):
        classifier(torch.zeros(2, 2, 28, 28))


def test_classify_samples(classifier, mnist_test) -> None:
    x, y = mnist_test
    out = classify_samples(x[:1000], classifier, batch_size=300)
    assert out["labels"].shape == (1000,) and out["confidences"].shape == (1000,)
    assert len(out["class_fractions"]) == 10
    assert sum(out["class_fractions"]) == pytest.approx(1.0)
    assert out["min_class_fraction"] <= 0.1 <= out["max_class_fraction"]
    assert 0.9 < out["frac_confident"] <= 1.0
    assert float((out["labels"] == y[:1000]).double().mean()) >= 0.99


def test_non_digits_are_unconfident(classifier) -> None:
    """Trained with outlier exposure: noise and blank frames get a near-uniform softmax."""
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blank = -torch.ones(20, 1, 28, 28)
    assert classify_samples(noise, classifier)["frac_confident"] < 0.1
    assert classify_samples(blank, classifier)["frac_confident"] < 0.1


def test_fashion_mnist_is_mostly_unconfident(classifier) -> None:
    """Clothes were never seen in training (not even as junk): few should look like digits."""
    if not FASHION.is_file():
        pytest.skip(f"Fashion-MNIST subset not available at {FASHION}")
    with np.load(FASHION) as d:
        x = torch.from_numpy(d["x_test"]).float().div(127.5).sub(1.0).unsqueeze(1)
    assert classify_samples(x, classifier)["frac_confident"] < 0.3


def test_missing_weights_raise(tmp_path: Path) -> None:
    with pytest.raises(DcganError, match="bench/mnist_classifier.py"):
        load_mnist_classifier(tmp_path / "nope.pt")


def test_corrupt_weights_raise(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DcganError, match="bench/mnist_classifier.py"):
        load_mnist_classifier(bad)
