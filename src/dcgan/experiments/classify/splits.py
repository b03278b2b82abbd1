"""The data side of the few-label protocol (paper §5.2): the labelled source, its test and
validation sets (given, the source's own test split, or held out), and the random draws of
N labelled examples per class."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from dcgan.data.packed import PackedDataset, is_packed, resolve_data
from dcgan.data.sources import open_source
from dcgan.errors import DcganError
from dcgan.options import CACHE

HOLDOUT_TEST_FRACTION = 0.2

Split = tuple[PackedDataset, np.ndarray]  # a dataset and the indices of its examples used


@dataclass
class Splits:
    """Where the draws come from (`pool` of `train`), the test set and the validation set."""

    train: PackedDataset
    pool: np.ndarray
    classes: np.ndarray
    test: Split
    val: Split | None
    notes: list[str]

    def labels(self, split: Split) -> np.ndarray:
        """Class indices 0..k-1 of a split's examples."""
        dataset, indices = split
        assert dataset.labels is not None
        return np.searchsorted(self.classes, dataset.labels[indices])


def has_test_split(data: str, format: str | None = None) -> bool:
    """Whether the source has a test split of its own (MNIST idx/npz x_test, CIFAR, SVHN)."""
    if is_packed(data):
        return False
    try:
        train, test = open_source(data, format), open_source(data, format, split="test")
        with contextlib.closing(iter(train)) as a, contextlib.closing(iter(test)) as b:
            first_train, first_test = next(a, None), next(b, None)
    except DcganError:
        return False
    return (
        first_train is not None and first_test is not None and first_train.name != first_test.name
    )


def _labelled(dataset: PackedDataset, what: str) -> PackedDataset:
    if dataset.labels is None:
        raise DcganError(
            f"{what} {dataset.meta.get('source', dataset.path)} has no labels: classify needs"
            " labelled data (idx with label files, CIFAR, SVHN, npz with y_*, class subfolders)"
        )
    return dataset


def _hold_out(pool: np.ndarray, count: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """`count` examples of `pool` drawn uniformly at random, and the rest of the pool."""
    if count >= len(pool):
        raise DcganError(f"cannot hold out {count} examples as {what}: only {len(pool)} exist")
    taken = np.random.default_rng([seed, 99]).permutation(pool)[:count]
    return np.sort(taken), np.setdiff1d(pool, taken)


def open_splits(
    data: str,
    size: int,
    channels: int,
    *,
    test: str | None = None,
    val: str | None = None,
    val_size: int = 0,
    format: str | None = None,
    cache: str = CACHE,
    seed: int = 0,
) -> Splits:
    """Prepare (once, cached) the labelled source `data`, the test set (`test`, else the
    source's own test split, else a fifth of `data` held out) and the validation set
    (`val`, else `val_size` images of `data` held out, else none)."""

    def resolve(source: str, what: str, split: str = "train") -> PackedDataset:
        dataset = resolve_data(source, size, channels, format, cache, False, split)
        return _labelled(dataset, what)

    train = resolve(data, "the data")
    pool, notes = np.arange(len(train)), []
    if test:
        test_data = resolve(test, "the test source")
        test_split: Split = (test_data, np.arange(len(test_data)))
    elif has_test_split(data, format):
        test_data = resolve(data, "the test split", "test")
        test_split = (test_data, np.arange(len(test_data)))
        notes.append(f"test set: the test split of {data} ({len(test_data)} images)")
    else:
        count = int(len(train) * HOLDOUT_TEST_FRACTION)
        held, pool = _hold_out(pool, count, seed, "the test set")
        test_split = (train, held)
        notes.append(f"{data} has no test split: {count} of its images held out as test")
    val_split: Split | None = None
    if val:
        val_data = resolve(val, "the validation source")
        val_split = (val_data, np.arange(len(val_data)))
    elif val_size:
        held, pool = _hold_out(pool, val_size, seed + 1, "the validation set")
        val_split = (train, held)
        notes.append(f"validation: {val_size} images of {data}, never drawn")
    assert train.labels is not None
    classes = np.unique(train.labels[pool])
    splits = Splits(train, pool, classes, test_split, val_split, notes)
    for split in (test_split, val_split):
        if split is not None:
            extra = np.setdiff1d(split[0].labels[split[1]], classes)
            if len(extra):
                raise DcganError(
                    f"labels {extra.tolist()} of the test/validation set are not in the data"
                )
    return splits


def draw_labelled(
    labels: np.ndarray, pool: np.ndarray, classes: np.ndarray, per_class: int, seed: int
) -> np.ndarray:
    """`per_class` indices of `pool` per class, uniformly at random, sorted. The same seed
    gives the same order per class, so a draw for N is the start of the draw for N' > N."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        members = pool[labels[pool] == c]
        if len(members) < per_class:
            raise DcganError(
                f"{per_class} labelled examples per class asked, but class {c} has only"
                f" {len(members)} available"
            )
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen))


def count_label(n: int) -> str:
    """How a label count reads: "400/class", or "all labels" for 0."""
    return f"{n}/class" if n else "all labels"


def in_order(counts: tuple[int, ...]) -> list[int]:
    """The label counts in increasing order, "all labels" (0) last."""
    return sorted(counts, key=lambda n: (n == 0, n))
