"""The BatchNorm statistics of D's features in `classify`: running, batch, or inferred over a
set of training images (the authors' protocol, issue 11), on real MNIST images and on the
authors' converted SVHN discriminator."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED

from dcgan import DcganError, ModelConfig
from dcgan.experiments.classify.features import (
    FeatureExtractor,
    d_features,
    feature_dim,
    infer_bn_statistics,
    prepare_bn,
)
from dcgan.models import Discriminator


class _Packed:
    """Just enough of a PackedDataset for the extractor."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.meta, self.path = images, {"images_sha256": "bn-test"}, Path(".")

    def get_batch(self, indices) -> torch.Tensor:
        return self.images[torch.as_tensor(indices)]


@pytest.fixture(scope="module")
def mnist_images() -> torch.Tensor:
    """300 real MNIST digits, 32 px, uint8 (N, 1, 32, 32)."""
    if not (SHARED / "mnist.npz").is_file():
        pytest.skip(f"real data {SHARED / 'mnist.npz'} is absent")
    with np.load(SHARED / "mnist.npz") as m:
        x = torch.as_tensor(m["x_train"][:300]).unsqueeze(1).float()
    return torch.nn.functional.interpolate(x, size=32, mode="bilinear").round().to(torch.uint8)


def _trained_like_d() -> Discriminator:
    """A D whose running statistics are far from any real data's (as after GAN training)."""
    torch.manual_seed(0)
    d = Discriminator(ModelConfig(size=32, channels=1, ndf=8))
    for m in d.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
            m.running_var.fill_(7.0)
    return d.eval()


def test_inferred_statistics_are_the_mean_and_variance_over_the_set(mnist_images) -> None:
    d = _trained_like_d()
    data, chosen = _Packed(mnist_images), np.arange(0, 300, 2)
    inferred = infer_bn_statistics(d, data, chosen, batch_size=32)  # 5 batches
    # the first BatchNorm: the mean and biased variance of its input over the 150 images
    x = mnist_images[chosen].float() / 127.5 - 1
    with torch.no_grad():
        pre = d.blocks[1][0](d.blocks[0](x)).double()
    bn = inferred.blocks[1][1]
    assert torch.allclose(bn.running_mean.double(), pre.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var.double(), pre.var((0, 2, 3), unbiased=False), atol=1e-5)
    # every layer: the features are those of D in training mode given the set as one batch
    with torch.no_grad():
        one_batch, got = copy.deepcopy(d).train().features(x), inferred.features(x)
    assert not inferred.training and len(got) == 3  # two BatchNorm layers, in sequence
    for h, expected in zip(got, one_batch, strict=True):
        assert torch.allclose(h, expected, atol=1e-4)
    # D itself is untouched
    assert torch.equal(d.blocks[1][1].running_mean, torch.full((16,), 3.0))


def test_batch_mode_uses_each_batch_and_changes_nothing(mnist_images) -> None:
    d = _trained_like_d()
    batch_d = prepare_bn(d, "batch")
    x = mnist_images[:50]
    with torch.no_grad():
        expected = copy.deepcopy(d).train().features(x.float() / 127.5 - 1)
    assert torch.allclose(d_features(batch_d, x, grid=4)[:, :128], _pool(expected[0]))
    assert torch.equal(d.blocks[1][1].running_var, torch.full((16,), 7.0))
    assert prepare_bn(d, "running") is d
    with pytest.raises(DcganError, match="one of running, batch, inferred"):
        prepare_bn(d, "average")


def _pool(h: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.adaptive_max_pool2d(h, 4).flatten(1)


def test_bn_mode_is_part_of_the_cache_key(mnist_images, tmp_path: Path) -> None:
    d, data, idx = _trained_like_d(), _Packed(mnist_images), np.arange(40)
    running = FeatureExtractor(d, cache=tmp_path)(data, idx)
    inferred_d = prepare_bn(d, "inferred", (data, np.arange(300)))
    inferred = FeatureExtractor(inferred_d, cache=tmp_path, bn="inferred")(data, idx)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2
    assert not np.allclose(running, inferred)
    # normalised by the images' own statistics, the second layer's channels are centred
    maps = infer_bn_statistics(d, data, idx).features(mnist_images[:40].float() / 127.5 - 1)
    assert abs(maps[1].mean().item()) < 0.5


def test_authors_svhn_d_gives_7168_features_with_inferred_statistics() -> None:
    svhn = SHARED / "newmu_svhn_dcgan"
    if not svhn.is_dir():
        pytest.skip(f"the authors' SVHN model {svhn} is absent")
    from dcgan.convert import read_release

    d = read_release(svhn).discriminator.eval()
    images = torch.randint(0, 256, (24, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    data = _Packed(images.to(torch.uint8))
    extract = FeatureExtractor(
        prepare_bn(d, "inferred", (data, np.arange(24)), 8), bn="inferred", batch_size=8
    )
    features = extract(data, np.arange(5))
    assert extract.dim == 7168 and features.shape == (5, 7168)  # 16 x (64 + 128 + 256)
    assert np.isfinite(features).all()


def test_feature_dim_of_the_authors_imagenet32_layout() -> None:
    """§5.1's 28,672 features: the released ImageNet-32 D (six 3x3 convs, 128 to 512 wide)."""
    config = ModelConfig(
        size=32, ngf=128, ndf=128, kernel=3, strides=(2, 1, 2, 1, 2, 1), widths=(4, 4, 2, 2, 1, 1)
    )
    assert feature_dim(config) == 16 * (128 + 128 + 256 + 256 + 512 + 512) == 28_672
