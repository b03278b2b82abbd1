"""The baseline of paper §5.2: "a purely supervised CNN with the same architecture [as D]
trained on the same data", its hyper-parameters chosen on a validation split by random
search ("64 hyper-parameter trials" in the paper; how many here is an option).

The network is D's conv stack (same layers, BatchNorm, LeakyReLU, init) with a linear
layer to the classes in place of D's single logit, and dropout before it. Trained with
Adam on the labelled examples only, no augmentation.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dcgan.config import ModelConfig
from dcgan.conventions import to_unit_range
from dcgan.models import Discriminator, init_weights, num_stages


class SupervisedCNN(nn.Module):
    """D's conv layers -> dropout -> linear layer to `num_classes` logits."""

    def __init__(self, config: ModelConfig, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = Discriminator(config).blocks
        last = config.ndf * 2 ** (num_stages(config.size) - 1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(last * 4 * 4, num_classes)
        init_weights(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(self.dropout(x.flatten(1)))


@dataclass(frozen=True)
class Hyper:
    """One point of the random search."""

    lr: float
    weight_decay: float
    dropout: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Hyper:
        """lr log-uniform in [1e-4, 1e-2], weight decay log-uniform in [1e-6, 1e-2],
        dropout uniform in [0, 0.6]."""
        return cls(
            lr=float(10 ** rng.uniform(-4, -2)),
            weight_decay=float(10 ** rng.uniform(-6, -2)),
            dropout=float(rng.uniform(0.0, 0.6)),
        )


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: np.ndarray, batch: int = 500) -> float:
    """Accuracy of `model` (eval mode) on uint8 images."""
    model.eval()
    predictions = [model(to_unit_range(x)).argmax(1) for x in images.split(batch)]
    return float((torch.cat(predictions).numpy() == labels).mean())


def train_cnn(
    config: ModelConfig,
    num_classes: int,
    images: torch.Tensor,
    labels: np.ndarray,
    hyper: Hyper,
    steps: int,
    batch_size: int,
    seed: int,
    val: tuple[torch.Tensor, np.ndarray] | None = None,
    evaluations: int = 4,
) -> tuple[nn.Module, list[tuple[int, float]]]:
    """Train on uint8 `images` with integer `labels` for `steps` Adam steps (AdamW weight
    decay), mini-batches drawn by reshuffling every epoch. With `val`, also return its
    accuracy after every `steps / evaluations` steps, and the model at the best of them
    (early stopping chosen on the validation split). The caller's torch RNG is left as it
    was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SupervisedCNN(config, num_classes, hyper.dropout)
        opt = torch.optim.AdamW(
            model.parameters(), lr=hyper.lr, betas=(0.9, 0.999), weight_decay=hyper.weight_decay
        )
        target = torch.as_tensor(labels, dtype=torch.long)
        rng = np.random.default_rng(seed)
        batch_size = min(batch_size, len(images))
        every = max(1, math.ceil(steps / evaluations))
        order, pos = rng.permutation(len(images)), 0
        curve: list[tuple[int, float]] = []
        best, best_acc = None, -1.0
        for step in range(1, steps + 1):
            if pos + batch_size > len(order):
                order, pos = rng.permutation(len(images)), 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            model.train()
            loss = F.cross_entropy(model(to_unit_range(images[idx])), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if val is not None and (step % every == 0 or step == steps):
                acc = accuracy(model, *val)
                curve.append((step, acc))
                if acc > best_acc:
                    best, best_acc = copy.deepcopy(model), acc
        return (best if best is not None else model).eval(), curve


@dataclass
class SearchResult:
    """The chosen hyper-parameters and step count, and every trial's validation curve."""

    hyper: Hyper
    steps: int
    val_accuracy: float
    trials: list[dict]


def random_search(
    config: ModelConfig,
    num_classes: int,
    images: torch.Tensor,
    labels: np.ndarray,
    val: tuple[torch.Tensor, np.ndarray],
    trials: int,
    steps: int,
    batch_size: int,
    seed: int,
) -> tuple[SearchResult, nn.Module]:
    """`trials` random hyper-parameter draws, each trained and scored on `val`; the best
    (trial, step) wins. Returns it and its model."""
    rng = np.random.default_rng([seed, 7])
    records, best_model, best = [], None, None
    for trial in range(trials):
        hyper = Hyper.draw(rng)
        model, curve = train_cnn(
            config, num_classes, images, labels, hyper, steps, batch_size, seed, val
        )
        step, acc = max(curve, key=lambda p: (p[1], -p[0]))
        records.append({"trial": trial, **asdict(hyper), "val_curve": curve})
        if best is None or acc > best.val_accuracy:
            best, best_model = SearchResult(hyper, step, acc, records), model
    assert best is not None and best_model is not None
    return best, best_model
