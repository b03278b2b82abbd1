"""`dcgan classify` (paper §5): D features, the L2-SVM, the few-label draws, the baselines,
the report, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from dcgan import ModelConfig, TrainConfig, train
from dcgan.cli import main
from dcgan.data.packed import resolve_data
from dcgan.errors import DcganError
from dcgan.experiments.classify.features import (
    FeatureExtractor,
    d_features,
    feature_dim,
    pool_maps,
    shift_images,
    shift_offsets,
)
from dcgan.experiments.classify.linear import L2SVM, fit_select_c
from dcgan.experiments.classify.pipeline import ClassifyConfig, classify
from dcgan.experiments.classify.report import write_classify_report
from dcgan.experiments.classify.splits import draw_labelled, has_test_split
from dcgan.models import Discriminator

pytestmark = pytest.mark.usefixtures("one_thread")


# --- features ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, ndf, expected",
    [
        (32, 256, 28_672),  # the paper's ImageNet-32 D (§5.1): 16 x (256 + 512 + 1024)
        (16, 8, 16 * (8 + 16)),
        (32, 64, 16 * (64 + 128 + 256)),
        (64, 128, 16 * (128 + 256 + 512 + 1024)),
        (128, 4, 16 * (4 + 8 + 16 + 32 + 64)),
    ],
)
def test_feature_dim_formula(size: int, ndf: int, expected: int) -> None:
    config = ModelConfig(size=size, channels=1, ndf=ndf)
    assert feature_dim(config) == expected
    if size <= 64 and ndf <= 64:  # and it is what extraction really gives
        d = Discriminator(config).eval()
        images = torch.randint(0, 256, (2, 1, size, size), dtype=torch.uint8)
        extract = FeatureExtractor(d)
        assert extract.dim == expected
        assert extract(_Packed(images), np.arange(2)).shape == (2, expected)


def test_feature_dim_of_chosen_layers_and_grid() -> None:
    config = ModelConfig(size=32, channels=1, ndf=64)
    assert feature_dim(config, grid=2, layers=(2, 3)) == 4 * (128 + 256)
    with pytest.raises(DcganError, match="1..3"):
        feature_dim(config, layers=(4,))


def test_pooling_is_a_hand_computed_max() -> None:
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(1, 2, 8, 8) % 13
    small = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    pooled = pool_maps([x, small], grid=4)
    expected = [x[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max() for c in range(2)
                for i in range(4) for j in range(4)]  # fmt: skip
    assert pooled.shape == (1, 2 * 16 + 16)
    assert pooled[0, :32].tolist() == [float(v) for v in expected]
    assert pool_maps([small], grid=1).tolist() == [[3.0]]
    # a map already at the grid's size is kept as it is
    assert pool_maps([small], grid=2).tolist() == [[1.0, -2.0, 3.0, 0.5]]


class _Packed:
    """Just enough of a PackedDataset for the extractor."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.meta, self.path = images, {"images_sha256": "test"}, Path(".")

    def get_batch(self, indices) -> torch.Tensor:
        return self.images[torch.as_tensor(indices)]


def test_features_are_cached_by_weights_and_data(tmp_path: Path, monkeypatch) -> None:
    d = Discriminator(ModelConfig(size=16, channels=1, ndf=4)).eval()
    data = _Packed(torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8))
    first = FeatureExtractor(d, cache=tmp_path)(data, np.arange(5))
    assert len(list((tmp_path / "features").glob("*.npy"))) == 1

    def fail(*args):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(FeatureExtractor, "_compute", fail)
    assert np.array_equal(FeatureExtractor(d, cache=tmp_path)(data, np.arange(5)), first)
    other = Discriminator(ModelConfig(size=16, channels=1, ndf=4)).eval()  # other weights
    with pytest.raises(AssertionError, match="recomputed"):
        FeatureExtractor(other, cache=tmp_path)(data, np.arange(5))


# --- the L2-SVM --------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(120, 12), (24, 100)])  # primal, and the reduced n < d/2
@pytest.mark.parametrize("standardize", [True, False])
def test_l2svm_reaches_linearsvc_optimum(n: int, d: int, standardize: bool) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(loc=0.5, scale=2.0, size=(n, d)).astype(np.float32) + y[:, None] * 0.3
    svm = L2SVM(x, y, 3, standardize)
    assert standardize or (svm.mean.abs().max() == 0 and svm.std.eq(1).all())
    xs = ((torch.from_numpy(x) - svm.mean) / svm.std).numpy().astype(np.float64)
    for c in (0.01, 0.3):
        ours = svm.weights(svm.fit(c, rtol=1e-6))
        ref = LinearSVC(C=c, tol=1e-7, max_iter=100_000).fit(xs, y)
        theirs = torch.from_numpy(np.vstack([ref.coef_.T, ref.intercept_[None]])).float()

        def objective(w, c=c):
            t = -torch.ones(n, 3)
            t[torch.arange(n), torch.from_numpy(y)] = 1
            margin = (1 - t * (torch.from_numpy(xs).float() @ w[:-1] + w[-1])).clamp_min(0)
            return float(0.5 * (w * w).sum() + c * (margin * margin).sum())

        assert objective(ours) <= objective(theirs) * (1 + 1e-4)
        assert torch.allclose(ours, theirs, atol=2e-3 * theirs.abs().max())


def test_c_is_chosen_on_validation_or_by_cross_validation() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(2), 20)
    x = rng.normal(size=(40, 5)) + y[:, None]
    val = (rng.normal(size=(40, 5)) + y[:, None], y)
    by_val = fit_select_c(x, y, 2, (1e-3, 1e-1, 10.0), val=val)
    assert set(by_val.selection) == {1e-3, 1e-1, 10.0}
    assert by_val.selection[by_val.c] == max(by_val.selection.values())
    by_cv = fit_select_c(x, y, 2, (1e-3, 1e-1), folds=4)
    assert by_cv.c in (1e-3, 1e-1) and (by_cv.predict(val[0]) == y).mean() > 0.7
    with pytest.raises(DcganError, match="2 labelled examples per class"):
        fit_select_c(x[[0, 20]], y[[0, 20]], 2, (1e-3, 1e-1))


# --- the draws ---------------------------------------------------------------------------


def test_draws_are_balanced_seeded_and_nested() -> None:
    labels = np.repeat(np.arange(4), [30, 12, 50, 9])
    pool = np.arange(len(labels))
    classes = np.arange(4)
    a = draw_labelled(labels, pool, classes, 5, [0, 1])
    assert np.bincount(labels[a]).tolist() == [5, 5, 5, 5] and len(set(a)) == 20
    assert np.array_equal(a, draw_labelled(labels, pool, classes, 5, [0, 1]))
    assert not np.array_equal(a, draw_labelled(labels, pool, classes, 5, [0, 2]))
    assert set(a) <= set(draw_labelled(labels, pool, classes, 9, [0, 1]))
    held = np.arange(0, 101, 2)  # draws never leave the pool
    assert set(draw_labelled(labels, held, classes, 4, 3)) <= set(held)
    with pytest.raises(DcganError, match="class 3 has only 9"):
        draw_labelled(labels, pool, classes, 10, 0)


def test_shift_images_moves_pixels_and_repeats_the_edge() -> None:
    x = torch.arange(9, dtype=torch.uint8).reshape(1, 1, 3, 3)
    down = shift_images(x, 1, 0)[0, 0]
    assert down.dtype == torch.uint8
    assert down.tolist() == [[0, 1, 2], [0, 1, 2], [3, 4, 5]]
    left = shift_images(x, 0, -1)[0, 0]
    assert left.tolist() == [[1, 2, 2], [4, 5, 5], [7, 8, 8]]
    assert torch.equal(shift_images(x, 0, 0), x)
    offsets = shift_offsets(2)
    assert len(set(offsets)) == 8 and (0, 0) not in offsets
    assert {max(abs(a), abs(b)) for a, b in offsets} == {1, 2} and shift_offsets(0) == []


# --- on real MNIST -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_small(tmp_path_factory) -> Path:
    """A real MNIST subset as an npz with train and test arrays (3,000 + 1,000 images)."""
    from conftest import SHARED

    if not (SHARED / "mnist.npz").is_file():
        pytest.skip(f"real data {SHARED / 'mnist.npz'} is absent")
    with np.load(SHARED / "mnist.npz") as m:
        arrays = {"x_train": m["x_train"][:3000], "y_train": m["y_train"][:3000]}
        arrays |= {"x_test": m["x_test"][:1000], "y_test": m["y_test"][:1000]}
    path = tmp_path_factory.mktemp("mnist") / "mnist_small.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def brief_run(mnist_small: Path, tmp_path_factory) -> Path:
    """A DCGAN trained briefly on the images (not the labels) of the subset, at 16 px."""
    tmp = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        data=str(mnist_small),
        out=str(tmp / "runs"),
        model=ModelConfig(size=16, channels=1, ngf=16, ndf=16),
        steps=60,
        batch_size=64,
        cache=str(mnist_small.parent / "cache"),
        progress=False,
        log_every=100,
        sample_every=1000,
    )
    return train(config).run_dir


def test_test_split_of_a_source(mnist_small: Path, tmp_path: Path) -> None:
    assert has_test_split(str(mnist_small))
    assert not has_test_split("digits")
    np.savez(tmp_path / "only.npz", x_train=np.zeros((3, 8, 8), np.uint8), y_train=np.ones(3, int))
    assert not has_test_split(str(tmp_path / "only.npz"))
    test = resolve_data(mnist_small, 16, cache=tmp_path, progress=False, split="test")
    assert len(test) == 1000 and test.meta["split"] == "test"
    with np.load(mnist_small) as m:
        assert np.array_equal(test.labels, m["y_test"])


def test_d_features_beat_chance_widely_and_baselines_run(
    brief_run: Path, mnist_small: Path, tmp_path: Path
) -> None:
    config = ClassifyConfig(
        checkpoint=str(brief_run),
        data=str(mnist_small),
        labels_per_class=(5, 20),
        repeats=2,
        val_size=200,
        c_values=(1e-3, 1e-2),
        cnn_trials=2,
        cnn_steps=20,
        out=str(tmp_path / "report"),
        cache=str(mnist_small.parent / "cache"),
        progress=False,
    )
    result = classify(config)
    assert not (tmp_path / "report").exists()  # classify() only computes
    write_classify_report(result, config.out)
    assert result.feature_dim == 16 * (16 + 32) and result.test_size == 1000
    assert set(result.results) == {"dcgan", "pixels", "random-d", "cnn"}
    dcgan = result.results["dcgan"][20]
    assert len(dcgan.accuracies) == 2 and dcgan.mean > 0.6  # chance is 0.1
    for method in result.results.values():
        assert all(0 <= a <= 1 for r in method.values() for a in r.accuracies)
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["methods"]["dcgan"]["by_labels_per_class"]["20"]["accuracy_mean"] == dcgan.mean
    assert len(report["cnn_search"]["5"]["trials"]) == 2
    assert (tmp_path / "report" / "accuracy.png").stat().st_size > 1000
    table = (tmp_path / "report" / "table.md").read_text()
    assert "DCGAN D features + L2-SVM" in table and "20 labels/class" in table


def test_shifted_copies_reach_every_method(
    brief_run: Path, mnist_small: Path, tmp_path: Path, monkeypatch
) -> None:
    import dcgan.experiments.classify.pipeline as classify_module
    from dcgan.experiments.classify.features import prepare_bn
    from dcgan.sampling import load

    cache = mnist_small.parent / "cache"
    d = prepare_bn(load(brief_run).discriminator, "batch")
    extract = FeatureExtractor(d, cache=tmp_path, bn="batch")
    data = resolve_data(mnist_small, 16, cache=cache, progress=False)
    indices = np.arange(40)
    moved = extract(data, indices, (0, 1))
    want = d_features(d, shift_images(data.get_batch(indices), 0, 1))
    np.testing.assert_allclose(moved, want.numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(extract(data, indices), moved)  # cached apart from the unshifted
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2

    sizes: dict[str, list[int]] = {"svm": [], "cnn": []}
    fit, train_cnn = classify_module.fit_select_c, classify_module.train_cnn
    monkeypatch.setattr(
        classify_module,
        "fit_select_c",
        lambda x, *a, **k: sizes["svm"].append(len(x)) or fit(x, *a, **k),
    )
    monkeypatch.setattr(
        classify_module,
        "train_cnn",
        lambda arch, k, x, *a, **kw: sizes["cnn"].append(len(x)) or train_cnn(arch, k, x, *a, **kw),
    )
    config = ClassifyConfig(
        checkpoint=str(brief_run),
        data=str(mnist_small),
        labels_per_class=(5,),
        repeats=2,
        val_size=200,
        c_values=(1e-3,),
        cnn_trials=1,
        cnn_steps=5,
        shift=1,
        cache=str(cache),
        progress=False,
    )
    result = classify(config)
    assert sizes["svm"] == [50 * 5] * 6  # 3 SVM methods x 2 draws, each 50 examples + 4 copies
    assert sizes["cnn"] and set(sizes["cnn"]) == {50 * 5}
    assert result.results["dcgan"][5].mean > 0.3

    from dcgan.experiments.classify.report import caption

    assert "4 copies" in caption(result)


def test_cli_classify_prints_the_table(
    brief_run: Path, mnist_small: Path, tmp_path: Path, capsys
) -> None:
    args = ["classify", str(brief_run), "--data", str(mnist_small), "--labels-per-class", "3"]
    args += ["--repeats", "1", "--no-cnn", "--no-random-d", "--c", "0.001,0.01"]
    args += ["--cache", str(mnist_small.parent / "cache"), "--no-progress"]
    assert main([*args, "--out", f"{tmp_path / 'report'}/"]) == 0
    out = capsys.readouterr().out
    assert "| raw pixels + L2-SVM |" in out and "3 labels/class" in out
    assert f"written to {tmp_path / 'report'}/\n" in out  # one slash after a trailing one
    assert "| raw pixels + L2-SVM |" in (tmp_path / "report" / "table.md").read_text()
    assert "768-d features" in out  # the feature dimension is printed


def test_cli_classify_with_inferred_statistics(brief_run: Path, mnist_small: Path, capsys) -> None:
    args = ["classify", str(brief_run), "--data", str(mnist_small), "--labels-per-class", "3"]
    args += [
        "--repeats",
        "1",
        "--no-cnn",
        "--no-pixels",
        "--c",
        "0.001",
        "--feature-bn",
        "inferred",
    ]
    args += ["--bn-images", "500", "--cache", str(mnist_small.parent / "cache"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| random D features + L2-SVM |" in out and "BatchNorm statistics inferred" in out


# --- bad input ---------------------------------------------------------------------------


def _one_line_exit_2(args: list[str], needle: str, capsys) -> None:
    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err


def test_source_without_labels_is_one_line(brief_run: Path, tmp_path: Path, capsys) -> None:
    images = np.random.default_rng(0).integers(0, 256, (20, 16, 16), dtype=np.uint8)
    np.save(tmp_path / "unlabelled.npy", images)
    args = ["classify", str(brief_run), "--data", str(tmp_path / "unlabelled.npy")]
    _one_line_exit_2([*args, "--cache", str(tmp_path)], "has no labels", capsys)


def test_too_many_labels_is_one_line(brief_run: Path, mnist_small: Path, capsys) -> None:
    args = ["classify", str(brief_run), "--data", str(mnist_small), "--labels-per-class", "400"]
    args += ["--cache", str(mnist_small.parent / "cache")]
    _one_line_exit_2(args, "400 labelled examples per class", capsys)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--labels-per-class", "-1"], "--labels-per-class must be in 0.."),
        (["--labels-per-class", "ten"], "expected numbers"),
        (["--layers", "9"], "layers must be"),
        (["--val", "x", "--val-size", "5"], "not both"),
        (["--feature-bn", "average"], "invalid choice: 'average'"),
        (["--bn-images", "0"], "--bn-images must be in 1.."),
        (["--shift", "-1"], "--shift must be in 0.."),
        (["--shift", "8"], "below half the image side (16 px)"),
    ],
)
def test_bad_options_are_one_line(
    brief_run: Path, mnist_small: Path, extra: list[str], needle: str, capsys
) -> None:
    args = ["classify", str(brief_run), "--data", str(mnist_small), "--no-progress", *extra]
    _one_line_exit_2([*args, "--cache", str(mnist_small.parent / "cache")], needle, capsys)
