"""The linear classifier of paper §5: a regularised L2-SVM on standardised features, with C
chosen on a validation split or by cross-validation on the labelled examples.

The objective is scikit-learn's `LinearSVC` (liblinear) with its defaults: one-vs-rest,
squared hinge, L2 penalty, and the intercept as an extra feature of value 1 that is
penalised like the weights. Per class, with targets t = +-1:

    min_w  1/2 |w|^2 + C * sum_i max(0, 1 - t_i w . [x_i, 1])^2

It is solved here in the primal with full-batch L-BFGS in torch, all classes at once and
warm-started along the C grid; with fewer examples than features, in an orthonormal basis
of the examples' span (where the optimum lies: same problem, n instead of d coordinates).
liblinear keeps dense features as sparse nodes and took minutes per fit on 1,000 x 7,168 D
features on this project's CPU; this reaches the same optimum (tests/test_classify.py
compares both) in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.options_data import DEFAULT_C

CHUNK = 256  # rows of the design matrix per product


def _augment(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)


class L2SVM:
    """One-vs-rest L2-SVMs on one training set, fitted for any C (`fit`), scored on any
    features (`scores`). Standardisation uses the training set's mean and std; without it
    the features are used as they are (as the authors' LinearSVC does)."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, num_classes: int, standardize: bool = True
    ) -> None:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        self.mean, self.std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
        if standardize:
            self.mean = x.mean(0)
            std = x.std(0, unbiased=False)
            self.std = torch.where(std > 0, std, torch.ones_like(std))
        xa = _augment((x - self.mean) / self.std)
        self.n, self.num_classes = len(x), num_classes
        self.targets = -torch.ones(self.n, num_classes)
        self.targets[torch.arange(self.n), torch.as_tensor(np.asarray(y), dtype=torch.long)] = 1.0
        self.basis: torch.Tensor | None = None  # d x r: w = basis @ u
        if 2 * self.n <= xa.shape[1]:
            gram = (xa @ xa.T).double()
            values, vectors = torch.linalg.eigh(gram)
            keep = values > values.max() * 1e-9
            self.design = (vectors[:, keep] * values[keep].sqrt()).float()
            self.basis = (xa.T.double() @ (vectors[:, keep] / values[keep].sqrt())).float()
        else:
            self.design = xa

    def fit(
        self, c: float, init: torch.Tensor | None = None, rtol: float = 1e-3, max_iter: int = 1000
    ) -> torch.Tensor:
        """Weights in the solver's coordinates (pass them as `init` to warm-start another C).

        Stops when the largest gradient entry falls below `rtol` times its value at the start.
        """
        if c <= 0:
            raise DcganError(f"the SVM's C must be positive, got {c}")
        n = self.n
        w = torch.zeros(self.design.shape[1], self.num_classes) if init is None else init.clone()
        reg = 0.5 / (c * n)  # the objective divided by C * n: same optimum, loss of order 1
        start = self._loss_grad(w, reg)[1].abs().max().item()
        opt = torch.optim.LBFGS(
            [w],
            max_iter=max_iter,
            tolerance_grad=rtol * start,
            tolerance_change=0.0,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            loss, w.grad = self._loss_grad(w, reg)
            return loss

        opt.step(closure)
        return w

    @torch.no_grad()
    def _loss_grad(self, w: torch.Tensor, reg: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective and its gradient, in row chunks small enough to stay in cache
        between the two products (5x faster than autograd's two passes over the data)."""
        loss, grad = reg * (w * w).sum(), 2 * reg * w
        for z, t in zip(self.design.split(CHUNK), self.targets.split(CHUNK), strict=True):
            margin = (1.0 - t * (z @ w)).clamp_min(0.0)
            loss += (margin * margin).sum() / self.n
            grad.addmm_(z.T, t * margin, alpha=-2.0 / self.n)
        return loss, grad

    def weights(self, w: torch.Tensor) -> torch.Tensor:
        """(d + 1) x classes weights on standardised features (last row: the intercept)."""
        return w if self.basis is None else self.basis @ w

    def coordinates(self, full: torch.Tensor) -> torch.Tensor:
        """The inverse of `weights` (the projection on the examples' span): to warm-start a
        fit with weights from another training set of the same features."""
        return full if self.basis is None else self.basis.T @ full

    def scores(self, x: np.ndarray, w: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        full = self.weights(w)
        return ((x - self.mean) / self.std) @ full[:-1] + full[-1]

    def predict(self, x: np.ndarray, w: torch.Tensor) -> np.ndarray:
        return self.scores(x, w).argmax(1).numpy()


def _path_accuracy(
    svm: L2SVM,
    c_values: tuple[float, ...],
    x: np.ndarray,
    y: np.ndarray,
    init: torch.Tensor | None = None,
) -> tuple[list[float], list[torch.Tensor]]:
    """Accuracy on (x, y) of the fit at each C, warm-started in increasing order of C."""
    accuracies, fits = [], []
    w = None if init is None else svm.coordinates(init)
    for c in c_values:
        w = svm.fit(c, w)
        fits.append(w)
        accuracies.append(float((svm.predict(x, w) == y).mean()))
    return accuracies, fits


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """`folds` disjoint index sets, each class dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    for c in np.unique(y):
        for i, j in enumerate(rng.permutation(np.flatnonzero(y == c))):
            parts[i % folds].append(int(j))
    return [np.sort(np.asarray(p, np.int64)) for p in parts]


@dataclass
class SvmFit:
    """A fitted classifier, the C it was chosen with, and the scores of every C tried."""

    svm: L2SVM
    w: torch.Tensor
    c: float
    selection: dict[float, float]  # C -> validation (or cross-validation) accuracy

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.svm.predict(x, self.w)

    @property
    def full_weights(self) -> torch.Tensor:
        return self.svm.weights(self.w)


def fit_select_c(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    c_values: tuple[float, ...] = DEFAULT_C,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    folds: int = 5,
    seed: int = 0,
    init: torch.Tensor | None = None,
    standardize: bool = True,
) -> SvmFit:
    """An L2-SVM on (x, y) with C chosen on `val` or, without it, by stratified k-fold
    cross-validation on (x, y) itself (k = min(folds, the smallest class count)).
    Ties go to the smaller C. `init` (full weights of an earlier fit on the same kind of
    features) warm-starts the first C. `standardize`: see L2SVM."""
    c_values = tuple(sorted(c_values))
    if not c_values:
        raise DcganError("give at least one value of C")
    svm = L2SVM(x, y, num_classes, standardize)
    start = None if init is None else svm.coordinates(init)
    if len(c_values) == 1:
        return SvmFit(svm, svm.fit(c_values[0], start), c_values[0], {})
    if val is not None:
        accuracies, fits = _path_accuracy(svm, c_values, *val, init=init)
    else:
        k = min(folds, int(np.bincount(y, minlength=num_classes).min()))
        if k < 2:
            raise DcganError(
                "choosing C by cross-validation needs 2 labelled examples per class:"
                " give a validation split or a single C"
            )
        totals = np.zeros(len(c_values))
        for held in stratified_folds(y, k, seed):
            rest = np.setdiff1d(np.arange(len(y)), held)
            part = L2SVM(x[rest], y[rest], num_classes, standardize)
            totals += _path_accuracy(part, c_values, x[held], y[held])[0]
        accuracies, fits = list(totals / k), []
    best = int(np.argmax(accuracies))  # the first maximum: the smallest C among ties
    c = c_values[best]
    w = fits[best] if fits else svm.fit(c, start)
    return SvmFit(svm, w, c, dict(zip(c_values, accuracies, strict=True)))
