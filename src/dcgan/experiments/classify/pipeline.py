"""Paper §5 as a tool: classify a labelled source with a trained D's features and an
L2-SVM from N labelled examples per class, against baselines on the same draws.

The protocol (§5.2): draw N labelled examples per class uniformly at random, K times with
different seeds (the draws for smaller N are the first examples of those for larger N);
fit each method on each draw and report test accuracy, mean +- std over the K draws.
Methods: `dcgan` (D's features, §5.1), `pixels` (raw pixels), `random-d` (a randomly
initialised D of the same architecture), `kmeans` (the single-layer K-means network of
Coates et al. 2011, Table 1's baseline; see kmeans.py) through the same SVM, and
`cnn` (the same architecture trained with labels only, hyper-parameters by random search
on the validation split). A label count of 0 means every labelled example of the data
(Table 1's "all"): one draw, the same for every method. C of the SVM is chosen on the
validation split (`val` or `val_size`), or by cross-validation on each draw when there is
none.

D's BatchNorm layers use statistics inferred over training images by default, as the
authors' §5.2 code does: GAN training's running averages mix real and generated batches,
and a converted model has none. On MNIST the three modes tie on validation
(bench/classify_ablation.py), so the authors' protocol is the default. The features are
not standardised by default, as in the authors' code: standardising gives every pooled
unit unit variance, rare ones included, and cost 1.5 points of validation accuracy on MNIST.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from dcgan.errors import DcganError
from dcgan.experiments.classify.features import (
    FeatureExtractor,
    augment_with_shifts,
    prepare_bn,
    shift_offsets,
)
from dcgan.experiments.classify.kmeans import KMeansFeatures
from dcgan.experiments.classify.linear import fit_select_c
from dcgan.experiments.classify.splits import (
    Splits,
    count_label,
    draw_labelled,
    in_order,
    open_splits,
)
from dcgan.experiments.classify.supervised import accuracy, random_search, train_cnn
from dcgan.models import Discriminator
from dcgan.options_data import ClassifyConfig
from dcgan.sampling import Loaded, load


@dataclass
class MethodResult:
    """One method at one label count: test accuracy of each draw, and what was chosen."""

    accuracies: list[float] = field(default_factory=list)
    chosen: list[dict] = field(default_factory=list)  # per draw: C, or the CNN's steps
    seconds: float = 0.0

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        """Sample standard deviation over the draws (0 for one draw)."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0


@dataclass
class ClassifyResult:
    """Every method x labels-per-class result, and what a reader needs to trust it."""

    config: ClassifyConfig
    checkpoint_step: int
    feature_dim: int
    test_size: int
    val_size: int
    results: dict[str, dict[int, MethodResult]]
    cnn_search: dict[int, dict]
    notes: list[str]
    seconds: float


def _union(draws: dict[int, list[np.ndarray]]) -> np.ndarray:
    """Every example of every draw, sorted."""
    return np.unique(np.concatenate([d for per_draw in draws.values() for d in per_draw]))


def _log(config: ClassifyConfig, text: str) -> None:
    if config.progress:
        tqdm.write(text)


def _svm_method(
    config: ClassifyConfig,
    splits: Splits,
    draws: dict[int, list[np.ndarray]],
    extract: FeatureExtractor | KMeansFeatures,
    name: str,
    standardize: bool | None = None,
) -> dict[int, MethodResult]:
    """Features of every example needed once, then an SVM per draw (`standardize`: None
    for the config's choice)."""
    union = _union(draws)
    offsets = shift_offsets(config.shift)
    train = [extract(splits.train, union, offset) for offset in [(0, 0), *offsets]]
    test = extract(*splits.test), splits.labels(splits.test)
    val = (extract(*splits.val), splits.labels(splits.val)) if splits.val else None
    out = {}
    c_values, previous = config.c_values, None  # the last weights warm-start the next fit
    for n in in_order(tuple(draws)):  # the smallest count first, all labels (0) last
        per_draw = draws[n]
        result, start = MethodResult(), time.monotonic()
        if not config.c_carry:
            c_values, previous = config.c_values, None
        for r, draw in enumerate(per_draw):
            pos = np.searchsorted(union, draw)
            x = np.concatenate([features[pos] for features in train])
            y = np.tile(splits.labels((splits.train, draw)), len(train))
            fit = fit_select_c(
                x,
                y,
                len(splits.classes),
                c_values,
                val,
                config.folds,
                r,
                init=previous,
                standardize=config.standardize if standardize is None else standardize,
            )
            previous = fit.full_weights
            result.accuracies.append(float((fit.predict(test[0]) == test[1]).mean()))
            result.chosen.append({"C": fit.c, "selection": fit.selection})
            if config.c_once:
                c_values = (fit.c,)
        result.seconds = time.monotonic() - start
        out[n] = result
        _log(config, f"{name} {count_label(n)}: {100 * result.mean:.2f} +- {100 * result.std:.2f}%")
    return out


def _inner_val(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fifth of each class of a draw (at least one) held out to search the CNN's
    hyper-parameters when there is no validation split: (kept, held) positions."""
    rng = np.random.default_rng([seed, 5])
    held = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < 2:
            raise DcganError(
                "the CNN's search needs a validation split or 2 labelled examples per class"
            )
        held.append(members[: max(1, len(members) // 5)])
    held_idx = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(labels)), held_idx), held_idx


def _cnn_method(
    config: ClassifyConfig, splits: Splits, draws: dict[int, list[np.ndarray]], model: Loaded
) -> tuple[dict[int, MethodResult], dict[int, dict]]:
    """The supervised CNN: a random search on the first draw, then every draw trained with
    the chosen hyper-parameters and step count."""
    union = _union(draws)
    images = splits.train.get_batch(union)
    test = splits.test[0].get_batch(splits.test[1]), splits.labels(splits.test)
    val = (
        (splits.val[0].get_batch(splits.val[1]), splits.labels(splits.val)) if splits.val else None
    )
    arch, k = model.discriminator.config, len(splits.classes)
    offsets = shift_offsets(config.shift)
    out, searches = {}, {}
    for n, per_draw in draws.items():
        result, start = MethodResult(), time.monotonic()
        x0, y0 = (
            images[np.searchsorted(union, per_draw[0])],
            splits.labels((splits.train, per_draw[0])),
        )
        if val is not None:
            search_x, search_y, search_val = x0, y0, val
        else:
            kept, held = _inner_val(y0, config.seed)
            search_x, search_y, search_val = x0[kept], y0[kept], (x0[held], y0[held])
        search_x, search_y = augment_with_shifts(search_x, search_y, offsets)
        search, best = random_search(
            arch,
            k,
            search_x,
            search_y,
            search_val,
            config.cnn_trials,
            config.cnn_steps,
            config.cnn_batch_size,
            config.seed,
        )
        searches[n] = {
            "trials": search.trials,
            "chosen": vars(search.hyper),
            "steps": search.steps,
            "val_accuracy": search.val_accuracy,
        }
        for r, draw in enumerate(per_draw):
            if r == 0 and val is not None:
                net = best  # the search trained it on this very draw
            else:
                x, y = images[np.searchsorted(union, draw)], splits.labels((splits.train, draw))
                x, y = augment_with_shifts(x, y, offsets)
                net, _ = train_cnn(
                    arch,
                    k,
                    x,
                    y,
                    search.hyper,
                    search.steps,
                    config.cnn_batch_size,
                    config.seed + r,
                )
            result.accuracies.append(accuracy(net, *test))
            result.chosen.append({"steps": search.steps, **vars(search.hyper)})
        result.seconds = time.monotonic() - start
        out[n] = result
        _log(
            config,
            f"cnn {count_label(n)}: {100 * result.mean:.2f} +- {100 * result.std:.2f}%"
            f" ({config.cnn_trials} trials)",
        )
    return out, searches


def classify(config: ClassifyConfig) -> ClassifyResult:
    """Run the few-label protocol for every chosen method. Nothing is written: the table,
    JSON and plot are `dcgan.experiments.classify.report.write_classify_report`'s job."""
    threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        return _classify(config)
    finally:
        torch.set_num_threads(threads)


def _classify(config: ClassifyConfig) -> ClassifyResult:
    start = time.monotonic()
    model = load(config.checkpoint)
    arch = model.needs_d("classify").config
    if 2 * config.shift >= arch.size:
        raise DcganError(
            f"shift must be below half the image side ({arch.size} px), got {config.shift}"
        )
    splits = open_splits(
        config.data,
        arch.size,
        arch.channels,
        test=config.test,
        val=config.val,
        val_size=config.val_size,
        format=config.format,
        cache=config.cache,
        seed=config.seed,
    )
    draws = {
        n: [
            draw_labelled(splits.train.labels, splits.pool, splits.classes, n, [config.seed, r])
            for r in range(config.repeats)
        ]
        if n
        else [splits.pool]  # all labels: one draw
        for n in config.labels_per_class
    }
    stats = None
    if config.bn == "inferred":
        rng = np.random.default_rng([config.seed, 11])
        chosen = rng.permutation(splits.pool)[: config.bn_images]
        stats = (splits.train, np.sort(chosen))

    def extractor(d: Discriminator) -> FeatureExtractor:
        d = prepare_bn(d, config.bn, stats, config.batch_size)
        return FeatureExtractor(
            d, config.grid, config.layers, config.batch_size, config.cache, config.bn
        )

    trained = extractor(model.discriminator)
    _log(config, f"D features: {trained.dim} dimensions")
    results = {"dcgan": _svm_method(config, splits, draws, trained, "dcgan")}
    if config.pixels:
        pixels = FeatureExtractor(None, batch_size=config.batch_size)
        results["pixels"] = _svm_method(config, splits, draws, pixels, "pixels")
    if config.random_d:
        with torch.random.fork_rng(devices=[]):  # the caller's RNG stays as it was
            torch.manual_seed(config.seed)
            random_d = Discriminator(arch).eval()
        extract = extractor(random_d)
        results["random-d"] = _svm_method(config, splits, draws, extract, "random-d")
    if config.kmeans:
        kmeans = KMeansFeatures(config.kmeans_k, config.kmeans_patches, config.seed)
        kmeans.fit(splits.train, splits.pool)  # unsupervised, like the GAN: no labels
        # Coates et al. standardise their features before the SVM: so does this method.
        results["kmeans"] = _svm_method(config, splits, draws, kmeans, "kmeans", True)
    searches: dict[int, dict] = {}
    if config.cnn:
        results["cnn"], searches = _cnn_method(config, splits, draws, model)
    result = ClassifyResult(
        config,
        model.step,
        trained.dim or 0,
        len(splits.test[1]),
        len(splits.val[1]) if splits.val else 0,
        results,
        searches,
        splits.notes,
        time.monotonic() - start,
    )
    return result
