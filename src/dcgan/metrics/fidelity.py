"""The metric math: FID, KID, IS and precision/recall, by name, over extracted features.

Every formula is torch-fidelity's own function with its own defaults (KID: 100 subsets of
1,000, cubic polynomial kernel, seed 2020; IS: 10 splits, shuffled with seed 2020; PR:
k = 3), so with the Inception extractor the numbers equal `fidelity --fid --kid --isc --prc
--feature-extractor inception-v3-compat` on the same images (one extractor for all four:
torch-fidelity alone would take VGG16 features for PR). Generated features are
torch-fidelity's `input1`, real ones `input2`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.extras import require

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
PR_NEIGHBOURS = 3
SEED = 2020  # torch-fidelity's default rng_seed


def _tf(module: str) -> ModuleType:
    """torch-fidelity's `module` (the `metrics` extra), imported on first use."""
    return require("metrics", f"torch_fidelity.{module}")


@dataclass
class Features:
    """Features of a set of images: `features` (N, D) for FID/KID/PR, `logits` (N, K) for IS."""

    features: torch.Tensor
    logits: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.features)


@dataclass
class Reference:
    """What a metric needs of the real side: FID's mean and covariance, and the features."""

    mu: np.ndarray
    sigma: np.ndarray
    features: torch.Tensor

    @classmethod
    def of(cls, feats: Features) -> Reference:
        stats = _tf("metric_fid").fid_features_to_statistics(feats.features)
        return cls(stats["mu"], stats["sigma"], feats.features)

    def __len__(self) -> int:
        return len(self.features)


def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), as torch-fidelity computes it."""
    s1, s2 = {"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}
    out = _tf("metric_fid").fid_statistics_to_metric(s1, s2, verbose=False)
    return out["frechet_inception_distance"]


def fid(fake: Features, real: Reference) -> dict[str, float]:
    stats = _tf("metric_fid").fid_features_to_statistics(fake.features)
    return {"fid": fid_from_stats(stats["mu"], stats["sigma"], real.mu, real.sigma)}


def kid(
    fake: Features, real: Reference, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE
) -> dict[str, float]:
    """Unbiased MMD^2 with a cubic kernel, mean and std over random subsets."""
    size = min(subset_size, len(fake), len(real))
    if size < 2:
        raise DcganError("KID needs at least 2 images on each side")
    out = _tf("metric_kid").kid_features_to_metric(
        fake.features,
        real.features,
        kid_subsets=subsets,
        kid_subset_size=size,
        rng_seed=SEED,
        verbose=False,
    )
    return {
        "kid_mean": out["kernel_inception_distance_mean"],
        "kid_std": out["kernel_inception_distance_std"],
    }


def inception_score(fake: Features, real: Reference | None = None) -> dict[str, float]:
    """exp E KL(p(y|x) || p(y)) over 10 splits: mean and std (needs the extractor's logits)."""
    if fake.logits is None:
        raise DcganError("IS needs an extractor with class logits")
    splits = min(IS_SPLITS, len(fake))
    out = _tf("metric_isc").isc_features_to_metric(
        fake.logits, splits=splits, shuffle=True, rng_seed=SEED
    )
    return {"is_mean": out["inception_score_mean"], "is_std": out["inception_score_std"]}


def precision_recall(fake: Features, real: Reference) -> dict[str, float]:
    """Kynkäänniemi et al. 2019: k-NN balls (k = 3) around real and generated features."""
    if min(len(fake), len(real)) <= PR_NEIGHBOURS:
        raise DcganError(f"precision/recall needs more than {PR_NEIGHBOURS} images a side")
    out = _tf("metric_prc").prc_features_to_metric(
        fake.features,
        real.features,
        prc_neighborhood=PR_NEIGHBOURS,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    return {k: float(out[k]) for k in ("precision", "recall", "f_score")}


@dataclass(frozen=True)
class Metric:
    """A metric by name: its function, the value that ranks checkpoints, and its direction."""

    fn: Callable[[Features, Reference], dict[str, float]]
    primary: str
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    "fid": Metric(fid, "fid", False),
    "kid": Metric(kid, "kid_mean", False),
    "is": Metric(inception_score, "is_mean", True),
    "pr": Metric(precision_recall, "f_score", True),
}


def parse_metrics(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """'fid,kid' -> ['fid', 'kid'], checked against the registry."""
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text)]
    names = [m for m in names if m]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise DcganError(f"unknown metric {bad or text!r}: use some of {', '.join(METRICS)}")
    return names


def compute(names: list[str], fake: Features, real: Reference) -> dict[str, float]:
    """Every named metric of `fake` against `real`, as one flat dict of numbers."""
    out: dict[str, float] = {}
    for name in names:
        out.update(METRICS[name].fn(fake, real))
    return out
