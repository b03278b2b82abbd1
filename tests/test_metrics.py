"""Metric math against oracles: closed-form FID, a direct KID, IS and PR extremes, and the
MNIST extractor on real data (real-vs-real is ~0, real-vs-noise is large)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import SHARED

from dcgan import DcganError
from dcgan.conventions import quantize
from dcgan.metrics.extractors import get_extractor
from dcgan.metrics.fidelity import (
    Features,
    Reference,
    compute,
    fid,
    fid_from_stats,
    inception_score,
    kid,
    parse_metrics,
    precision_recall,
)


def closed_form_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_equals_closed_form_on_known_gaussians() -> None:
    rng = np.random.default_rng(0)
    for d in (2, 16, 64):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = random_cov(rng, d), random_cov(rng, d)
        assert fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(
            closed_form_fid(mu1, s1, mu2, s2), rel=1e-3
        )
        assert fid_from_stats(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-6)


def test_fid_of_samples_approaches_the_population_value() -> None:
    rng = np.random.default_rng(1)
    d, n = 8, 40000
    mu1, mu2 = np.zeros(d), np.full(d, 1.0)
    s1, s2 = random_cov(rng, d), random_cov(rng, d)
    x = torch.from_numpy(rng.multivariate_normal(mu1, s1, n)).float()
    y = torch.from_numpy(rng.multivariate_normal(mu2, s2, n)).float()
    got = fid(Features(x), Reference.of(Features(y)))["fid"]
    assert got == pytest.approx(closed_form_fid(mu1, s1, mu2, s2), rel=0.02)


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out from its definition."""
    d, m = x.shape[1], len(x)

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.mean())


def test_kid_matches_direct_unbiased_mmd() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 10))
    y = rng.normal(0.3, 1.2, size=(200, 10))
    # Fewer than 1,000 images: every subset is the whole set, so the std is 0.
    out = kid(Features(torch.from_numpy(x)), Reference.of(Features(torch.from_numpy(y))))
    assert out["kid_mean"] == pytest.approx(direct_mmd2(x, y), rel=1e-6)
    assert out["kid_std"] == pytest.approx(0, abs=1e-9)


def test_inception_score_extremes() -> None:
    n, k = 10000, 10
    uniform = Features(torch.zeros(n, 4), torch.zeros(n, k))
    assert inception_score(uniform)["is_mean"] == pytest.approx(1.0)
    onehot = torch.full((n, k), -50.0)
    onehot[torch.arange(n), torch.arange(n) % k] = 50.0
    # Each of the 10 shuffled splits is only nearly balanced: IS is just under k.
    assert inception_score(Features(torch.zeros(n, 4), onehot))["is_mean"] == pytest.approx(
        k, rel=0.01
    )
    with pytest.raises(DcganError, match="logits"):
        inception_score(Features(torch.zeros(n, 4)))


def test_precision_recall_extremes() -> None:
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    same = precision_recall(Features(x), Reference.of(Features(x.clone())))
    assert same["precision"] == same["recall"] == 1.0
    far = precision_recall(Features(x + 100), Reference.of(Features(x)))
    assert far["precision"] == far["recall"] == 0.0


def test_parse_metrics() -> None:
    assert parse_metrics("fid, KID,pr") == ["fid", "kid", "pr"]
    with pytest.raises(DcganError, match="unknown metric"):
        parse_metrics("fid,lpips")


@pytest.fixture(scope="module")
def mnist_test() -> torch.Tensor:
    if not (SHARED / "mnist.npz").is_file():
        pytest.skip(f"real data {SHARED / 'mnist.npz'} is absent")
    with np.load(SHARED / "mnist.npz") as d:
        return torch.from_numpy(d["x_test"][:2000]).unsqueeze(1)


def test_mnist_real_vs_real_is_near_zero_and_noise_is_far(mnist_test) -> None:
    extractor = get_extractor("mnist")
    feats = extractor(mnist_test)
    a = Features(feats.features[::2], feats.logits[::2])
    b = Reference.of(Features(feats.features[1::2]))
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = extractor(quantize(noise))
    halves = {**compute(["fid", "is"], a, b), **kid(a, b, subsets=20, subset_size=500)}
    far = {**compute(["fid", "is"], noise, b), **kid(noise, b, subsets=20, subset_size=500)}
    assert 0 <= halves["fid"] < 3  # the sampling-noise floor of 2 x 1,000 images
    assert abs(halves["kid_mean"]) < 3 * halves["kid_std"]  # 0 within its subset spread
    assert far["fid"] > 100 * halves["fid"] and far["fid"] > 50
    assert far["kid_mean"] > 100 * halves["kid_std"]
    assert halves["is_mean"] > 9 and far["is_mean"] < 2  # 10 balanced digits vs no digit
