"""Typed configuration: the single source of defaults for the CLI and the Python API.

The defaults are the paper's recipe (PAPER §2): batch 128, Adam lr 2e-4, beta1 0.5,
z ~ U[-1, 1]^100, pixels in [-1, 1], no augmentation, non-saturating G loss.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dcgan.errors import DcganError

ALLOWED_SIZES = (16, 32, 64, 128, 256)


def check_size(size: int) -> int:
    """Return `size` if the models support it, else raise a clear error."""
    if size not in ALLOWED_SIZES:
        allowed = ", ".join(map(str, ALLOWED_SIZES))
        raise DcganError(f"image size {size} is not supported: use a power of two in {allowed}")
    return size


@dataclass
class ModelConfig:
    """Architecture of G and D (PAPER §1). The 64 px default is Figure 1: 4x4x1024 -> 64x64x3."""

    size: int = field(default=64, metadata={"help": "image side in pixels (16..256, power of 2)"})
    channels: int | None = field(
        default=None, metadata={"help": "image channels, 1 or 3 (default: the data's)"}
    )
    nz: int = field(default=100, metadata={"help": "latent dimension"})
    ngf: int = field(default=128, metadata={"help": "G width: channels of G's last hidden layer"})
    ndf: int = field(default=128, metadata={"help": "D width: channels of D's first layer"})

    def __post_init__(self) -> None:
        check_size(self.size)
        if self.channels not in (None, 1, 3):
            raise DcganError(f"channels must be 1 or 3, got {self.channels}")
        for name in ("nz", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise DcganError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as `config.json` in the run directory."""

    data: str = field(default="digits", metadata={"help": "data source (path or name)"})
    out: str = field(default="runs", metadata={"help": "parent folder of numbered run dirs"})
    format: str | None = field(default=None, metadata={"help": "source format (auto-detected)"})
    model: ModelConfig = field(default_factory=ModelConfig)
    # Stopping: whichever limit is reached first; none given = 5 epochs.
    steps: int | None = field(default=None, metadata={"help": "stop after this many steps"})
    epochs: float | None = field(default=None, metadata={"help": "stop after this many epochs"})
    time_limit: float | None = field(
        default=None, metadata={"help": "stop after this many minutes (checkpoint first)"}
    )
    batch_size: int = field(default=128, metadata={"help": "mini-batch size"})
    lr: float = field(default=2e-4, metadata={"help": "Adam learning rate (G and D)"})
    beta1: float = field(default=0.5, metadata={"help": "Adam beta1"})
    beta2: float = field(default=0.999, metadata={"help": "Adam beta2"})
    z_dist: str = field(default="uniform", metadata={"help": "prior of z: uniform or normal"})
    seed: int = field(default=0, metadata={"help": "random seed of the run"})
    ema: float | None = field(default=None, metadata={"help": "EMA decay of G, e.g. 0.999"})
    log_every: int = field(default=50, metadata={"help": "steps between log lines"})
    sample_every: int = field(default=500, metadata={"help": "steps between sample grids"})
    checkpoint_every: int = field(default=1000, metadata={"help": "steps between checkpoints"})
    keep: int = field(default=3, metadata={"help": "number of step checkpoints kept"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, mps"})
    channels_last: bool = field(default=False, metadata={"help": "use channels-last memory"})
    compile: bool = field(default=False, metadata={"help": "torch.compile G and D"})
    amp: bool = field(default=False, metadata={"help": "mixed precision (CUDA only)"})
    cache: str = field(
        default=".cache/dcgan", metadata={"help": "where raw sources are prepared once"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    # Evaluation during training (dcgan.metrics): logged, and best.pt kept by the metric.
    eval_every: int = field(
        default=0, metadata={"help": "steps between evaluations, 0 = never (keeps best.pt)"}
    )
    eval_metric: str = field(
        default="fid", metadata={"help": "metric that picks best.pt: fid, kid, is or pr"}
    )
    eval_n: int = field(default=2000, metadata={"help": "samples (and real images) per eval"})
    eval_extractor: str = field(
        default="inception", metadata={"help": "eval features: inception, mnist or a .pt"}
    )
    eval_data: str | None = field(
        default=None, metadata={"help": "real data of the eval (default: the training data)"}
    )
    inception_weights: str | None = field(
        default=None, metadata={"help": "Inception-v3 weights file (default: torch's cache)"}
    )

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        if self.z_dist not in ("uniform", "normal"):
            raise DcganError(f"z_dist must be 'uniform' or 'normal', got {self.z_dist!r}")
        if self.batch_size < 1:
            raise DcganError(f"batch size must be positive, got {self.batch_size}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise DcganError(f"ema must lie in (0, 1), got {self.ema}")
        if self.eval_every < 0 or self.eval_n < 2:
            raise DcganError("eval_every must be >= 0 and eval_n >= 2")
        for name in ("steps", "epochs", "time_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise DcganError(f"{name} must be positive, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
