"""The K-means baseline of paper Table 1 (Coates, Lee & Ng 2011): each step against a hand
computation, the pooled features on real CIFAR-10 images, determinism under a seed, and
the method through `classify` and its CLI flags."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan import ModelConfig, TrainConfig, train
from dcgan.cli import main
from dcgan.data.packed import PackedDataset
from dcgan.data.prepare import prepare
from dcgan.errors import DcganError
from dcgan.experiments.classify.kmeans import (
    PATCH,
    KMeansFeatures,
    normalize_patches,
    pool_quadrants,
    triangle,
    zca_whitener,
)
from dcgan.experiments.classify.pipeline import ClassifyConfig, classify

pytestmark = pytest.mark.usefixtures("one_thread")


# --- each step by hand -------------------------------------------------------------------


def test_brightness_and_contrast_normalisation_by_hand() -> None:
    out = normalize_patches(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]]))
    # row 1: mean 2.5, unbiased variance 5/3; row 2: constant, so all zeros
    expected = (np.array([1.0, 2.0, 3.0, 4.0]) - 2.5) / math.sqrt(5 / 3 + 10)
    np.testing.assert_allclose(out[0], expected)
    np.testing.assert_allclose(out[1], 0.0)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_zca_whitening_against_a_hand_computation(eps: float) -> None:
    # centred rows (2,2), (-2,-2), (1,-1), (-1,1), shifted by (3, 5):
    # covariance [[10/3, 2], [2, 10/3]] = eigenvalue 16/3 on (1,1)/sqrt2, 4/3 on (1,-1)/sqrt2
    x = np.array([[2.0, 2.0], [-2.0, -2.0], [1.0, -1.0], [-1.0, 1.0]]) + [3.0, 5.0]
    mean, p = zca_whitener(x, eps)
    a, b = 1 / math.sqrt(16 / 3 + eps), 1 / math.sqrt(4 / 3 + eps)
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(p, 0.5 * np.array([[a + b, a - b], [a - b, a + b]]))
    if eps == 0.0:  # exact whitening: identity covariance afterwards
        np.testing.assert_allclose(np.cov((x - mean) @ p, rowvar=False), np.eye(2), atol=1e-12)


def test_triangle_activation_by_hand() -> None:
    out = triangle(torch.tensor([[0.0, 5.0]]))
    assert out.tolist() == [[2.5, 0.0]]  # mean 2.5: on for the nearer centroid only
    out = triangle(torch.tensor([[1.0, 2.0, 6.0], [4.0, 4.0, 4.0]]))
    assert out.tolist() == [[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


def test_sum_pooling_over_quadrants_by_hand() -> None:
    maps = torch.arange(9.0).reshape(1, 3, 3, 1)  # rows 0 1 2 / 3 4 5 / 6 7 8
    # the middle row and column go to the first half (MATLAB round(3 / 2) = 2)
    top_left, bottom_left, top_right, bottom_right = 0 + 1 + 3 + 4, 6 + 7, 2 + 5, 8
    expected = [top_left, bottom_left, top_right, bottom_right]
    assert pool_quadrants(maps).tolist() == [expected]
    two = torch.stack([torch.zeros(3, 3), torch.ones(3, 3)], -1)[None]  # K = 2
    assert pool_quadrants(two).tolist() == [[0, 4, 0, 2, 0, 2, 0, 1]]


def test_bad_settings_are_one_line() -> None:
    with pytest.raises(DcganError, match="at least 1 centroid"):
        KMeansFeatures(k=0)
    with pytest.raises(DcganError, match="at least K = 50 patches"):
        KMeansFeatures(k=50, patches=10)
    with pytest.raises(DcganError, match="not fitted"):
        KMeansFeatures(k=2).features(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


# --- on real CIFAR-10 images -------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_small(tmp_path_factory) -> Path:
    """600 real CIFAR-10 training images with labels and class names (shared data)."""
    from conftest import SHARED

    src = SHARED / "cifar10_train20k.npz"
    if not src.is_file():
        pytest.skip(f"real data {src} is absent")
    with np.load(src) as c:
        arrays = {k: c[k][:600] for k in ("x_train", "y_train")} | {"class_names": c["class_names"]}
    path = tmp_path_factory.mktemp("cifar") / "cifar_small.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def packed(cifar_small: Path, tmp_path_factory) -> PackedDataset:
    out = tmp_path_factory.mktemp("packed") / "cifar"
    return PackedDataset(prepare(cifar_small, out, 32, progress=False, workers=1, limit=40))


def _by_hand(km: KMeansFeatures, image: np.ndarray) -> np.ndarray:
    """One image's features with loops and numpy: every patch, normalised, whitened, its
    distances, the triangle, the quadrant sums."""
    assert km.centroids is not None and km.mean is not None and km.whiten is not None
    c, side = image.shape[0], image.shape[1] - PATCH + 1
    pooled = np.zeros((4, km.k))
    for y in range(side):
        for x in range(side):
            patch = image[:, y : y + PATCH, x : x + PATCH].reshape(1, c * PATCH * PATCH)
            white = (normalize_patches(patch) - km.mean.numpy()) @ km.whiten.numpy()
            z = np.linalg.norm(white - km.centroids.numpy(), axis=1)
            f = np.maximum(z.mean() - z, 0.0)
            pooled[(y >= (side + 1) // 2) + 2 * (x >= (side + 1) // 2)] += f
    return pooled.reshape(-1)


def test_features_shape_and_a_hand_computation(packed: PackedDataset) -> None:
    km = KMeansFeatures(k=8, patches=2000, seed=0, batch_size=7).fit(packed, np.arange(40))
    features = km(packed, np.arange(10))
    assert features.shape == (10, 4 * 8) == (10, km.dim) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all() and features.sum() > 0
    expected = _by_hand(km, packed.images[3].astype(np.float64))
    np.testing.assert_allclose(features[3], expected, rtol=1e-3, atol=1e-2)
    # batches do not change the result (bounded memory, same features)
    km.batch_size = 3
    np.testing.assert_allclose(km(packed, np.arange(10)), features, rtol=1e-5, atol=1e-4)


def test_features_are_deterministic_under_a_seed(packed: PackedDataset) -> None:
    def fitted(seed: int) -> KMeansFeatures:
        return KMeansFeatures(k=6, patches=1000, seed=seed).fit(packed, np.arange(40))

    a, b, other = fitted(3), fitted(3), fitted(4)
    assert torch.equal(a.centroids, b.centroids) and torch.equal(a.whiten, b.whiten)
    assert np.array_equal(a(packed, np.arange(5)), b(packed, np.arange(5)))
    assert not torch.equal(a.centroids, other.centroids)


# --- through classify and the CLI ---------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_run(cifar_small: Path, tmp_path_factory) -> Path:
    """A width-8 DCGAN trained for 3 steps on the small CIFAR subset at 16 px."""
    tmp = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        data=str(cifar_small),
        out=str(tmp / "runs"),
        model=ModelConfig(size=16, channels=3, ngf=8, ndf=8),
        steps=3,
        batch_size=32,
        cache=str(cifar_small.parent / "cache"),
        progress=False,
    )
    return train(config).run_dir


def test_kmeans_method_runs_on_the_same_draws(cifar_run: Path, cifar_small: Path) -> None:
    config = ClassifyConfig(
        checkpoint=str(cifar_run),
        data=str(cifar_small),
        labels_per_class=(5, 0),
        repeats=2,
        kmeans=True,
        kmeans_k=16,
        kmeans_patches=2000,
        pixels=False,
        random_d=False,
        cnn=False,
        c_values=(1e-4, 1e-2),
        c_once=True,
        c_carry=True,
        cache=str(cifar_small.parent / "cache"),
        progress=False,
    )
    result = classify(config)
    assert list(result.results) == ["dcgan", "kmeans"]
    few, everything = result.results["kmeans"][5], result.results["kmeans"][0]
    assert len(few.accuracies) == 2 and len(everything.accuracies) == 1  # all: one draw
    # C chosen on validation at the first draw of 5/class, then kept (c_once, c_carry)
    assert set(few.chosen[0]["selection"]) == {1e-4, 1e-2}
    assert few.chosen[1]["selection"] == everything.chosen[0]["selection"] == {}
    assert few.chosen[0]["C"] == few.chosen[1]["C"] == everything.chosen[0]["C"]
    # 10 classes: chance is about 10%; every label of 480 images beats it clearly
    assert everything.mean > 0.18


def test_cli_kmeans_prints_its_row(cifar_run: Path, cifar_small: Path, capsys) -> None:
    args = ["classify", str(cifar_run), "--data", str(cifar_small), "--labels-per-class", "3"]
    args += ["--repeats", "1", "--no-cnn", "--no-random-d", "--no-pixels", "--c", "0.001"]
    args += ["--kmeans", "--kmeans-k", "8", "--kmeans-patches", "500"]
    args += ["--cache", str(cifar_small.parent / "cache"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| K-means features (Coates et al. 2011) + L2-SVM |" in out


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--kmeans-k", "0"], "--kmeans-k must be in 1.."),
        (["--kmeans-k", "many"], "invalid int value"),
        (["--kmeans-k", "100", "--kmeans-patches", "50"], "must be at least kmeans_k"),
    ],
)
def test_cli_bad_kmeans_values_are_one_line(
    cifar_run: Path, cifar_small: Path, extra: list[str], needle: str, capsys
) -> None:
    args = ["classify", str(cifar_run), "--data", str(cifar_small), "--kmeans", *extra]
    try:
        code = main([*args, "--cache", str(cifar_small.parent / "cache"), "--no-progress"])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
