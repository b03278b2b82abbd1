"""Typed configuration: the single source of defaults for the CLI and the Python API.

The defaults are the paper's recipe (paper §4): batch 128, Adam lr 2e-4, beta1 0.5,
z ~ U[-1, 1]^100, pixels in [-1, 1], no augmentation, non-saturating G loss.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from dcgan.errors import DcganError

ALLOWED_SIZES = (16, 32, 64, 128, 256)
PROJ_NORMS = ("channel", "unit")
# Vector arithmetic (paper §6.3.2, Fig. 7): Y's neighbours are Y + U[-0.25, 0.25]^nz, 8 of them.
ARITHMETIC_NOISE = 0.25
ARITHMETIC_NEIGHBOURS = 8


def check_size(size: int) -> int:
    """Return `size` if the models support it, else raise a clear error."""
    if size not in ALLOWED_SIZES:
        allowed = ", ".join(map(str, ALLOWED_SIZES))
        raise DcganError(f"image size {size} is not supported: use a power of two in {allowed}")
    return size


def num_stages(size: int) -> int:
    """Number of stride-2 stages between 4x4 and `size` x `size`."""
    return int(math.log2(check_size(size) // 4))


@dataclass
class ModelConfig:
    """Architecture of G and D (paper §3). The 64 px default is Figure 1: 4x4x1024 -> 64x64x3."""

    size: int = field(default=64, metadata={"help": "image side in pixels (16..256, power of 2)"})
    channels: int | None = field(
        default=None, metadata={"help": "image channels, 1 or 3 (default: the data's)"}
    )
    nz: int = field(default=100, metadata={"help": "latent dimension"})
    ngf: int = field(default=128, metadata={"help": "G width: channels of G's last hidden layer"})
    ndf: int = field(default=128, metadata={"help": "D width: channels of D's first layer"})
    # Options beyond Figure 1, for the authors' released models (see dcgan.convert).
    kernel: int = field(default=4, metadata={"help": "kernel side of every (transposed) conv"})
    padding: int | None = field(
        default=None, metadata={"help": "padding of every conv; unset: (kernel - 1) // 2"}
    )
    strides: tuple[int, ...] | None = field(
        default=None,
        metadata={
            "help": "strides of G's convs, input to output, e.g. 2,1,2,1,2,1; D mirrors "
            "them; unset: 2 for every stage"
        },
    )
    widths: tuple[int, ...] | None = field(
        default=None,
        metadata={
            "help": "channels of G's projection and hidden layers in units of ngf, e.g. "
            "4,4,2,2,1,1; D mirrors them in units of ndf; unset: 2^(n-1),...,2,1"
        },
    )
    proj_norm: str = field(
        default="channel",
        metadata={"help": "BatchNorm of G's projection: channel (per 4x4 map) or unit (per unit)"},
    )
    bn_eps: float = field(default=1e-5, metadata={"help": "BatchNorm epsilon"})

    def __post_init__(self) -> None:
        check_size(self.size)
        if self.channels not in (None, 1, 3):
            raise DcganError(f"channels must be 1 or 3, got {self.channels}")
        for name in ("nz", "ngf", "ndf", "kernel"):
            if getattr(self, name) < 1:
                raise DcganError(f"{name} must be positive, got {getattr(self, name)}")
        if self.proj_norm not in PROJ_NORMS:
            raise DcganError(f"proj_norm must be 'channel' or 'unit', got {self.proj_norm!r}")
        if not self.bn_eps > 0:
            raise DcganError(f"bn_eps must be positive, got {self.bn_eps}")
        # Lists from JSON or the command line become tuples, so configs compare equal.
        self.strides = tuple(self.strides) if self.strides is not None else None
        self.widths = tuple(self.widths) if self.widths is not None else None
        self._check_layers()

    @property
    def pad(self) -> int:
        """The padding in use: the given one, or the one that keeps a stride-1 conv's size."""
        return (self.kernel - 1) // 2 if self.padding is None else self.padding

    @property
    def layer_strides(self) -> tuple[int, ...]:
        """Stride of each of G's convs, input to output (D uses them reversed)."""
        if self.strides is not None:
            return self.strides
        n = len(self.widths) if self.widths is not None else num_stages(self.size)
        return (2,) * n

    @property
    def layer_widths(self) -> tuple[int, ...]:
        """Width multipliers of G's projection and hidden layers (D uses them reversed)."""
        if self.widths is not None:
            return self.widths
        n = len(self.layer_strides)
        return tuple(2 ** (n - 1 - i) for i in range(n))

    def _check_layers(self) -> None:
        strides, widths, k, p = self.layer_strides, self.layer_widths, self.kernel, self.pad
        if not strides or len(strides) != len(widths):
            raise DcganError(
                f"strides {strides} and widths {widths} must name the same number of layers"
            )
        if min(strides) < 1 or min(widths) < 1 or p < 0:
            raise DcganError("strides, widths and padding must be positive")
        if 4 * math.prod(strides) != self.size:
            raise DcganError(
                f"strides {strides} lead from 4x4 to {4 * math.prod(strides)} px, "
                f"not to the image size {self.size}"
            )
        for s in set(strides):
            # D's conv maps n to n / s and G's transposed conv n to n * s exactly iff this holds.
            if not 0 <= s + 2 * p - k < s:
                raise DcganError(
                    f"kernel {k} with padding {p} cannot scale by exactly {s}: "
                    "need 0 <= stride + 2 * padding - kernel < stride"
                )


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
    # Departures from the paper's recipe, off by default (bench/mnist_quality.py measures them).
    lr_d: float | None = field(default=None, metadata={"help": "D's learning rate (default: lr)"})
    lr_g: float | None = field(default=None, metadata={"help": "G's learning rate (default: lr)"})
    real_label: float = field(
        default=1.0, metadata={"help": "D's target for real images (0.9 = one-sided smoothing)"}
    )
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
    # Speed (bench/train_speed.py): channels-last is faster on CPU and GPU and keeps the
    # math (float rounding aside); compile costs a cold compile (cached under --cache);
    # bf16 is slower on CPUs without AMX, so both stay opt-in.
    channels_last: bool = field(default=True, metadata={"help": "use channels-last memory"})
    compile: bool = field(
        default=False, metadata={"help": "torch.compile G and D (kernels cached under --cache)"}
    )
    amp: bool = field(default=False, metadata={"help": "bf16 autocast (for GPUs; slower on CPU)"})
    # Multi-process training (torchrun; dcgan.distributed).
    batch_per_rank: bool = field(
        default=False,
        metadata={"help": "batch size per process, not global (torchrun: global = N x batch)"},
    )
    sync_bn: bool = field(
        default=False,
        metadata={"help": "torchrun on GPUs: BatchNorm over the global batch (SyncBatchNorm)"},
    )
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
        for name in ("lr", "lr_d", "lr_g"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # `not >=` also catches NaN
                raise DcganError(f"{name} must be non-negative, got {value}")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise DcganError(f"Adam betas must lie in [0, 1), got {self.beta1}, {self.beta2}")
        if not 0.5 < self.real_label <= 1.0:
            raise DcganError(f"real_label must be in (0.5, 1], got {self.real_label}")
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


@dataclass
class DedupConfig:
    """The semantic-hash de-duplication of paper §4.1.1 on 32x32 centre crops: the paper's
    3072-128-3072 de-noising autoencoder, or one trained to be invariant to copies."""

    hash: Literal["paper", "invariant"] = field(
        default="invariant",
        metadata={"help": "paper: §4.1.1 exactly; invariant: trained on copies"},
    )
    bits: int = field(default=128, metadata={"help": "code units = hash bits"})
    epochs: int = field(default=20, metadata={"help": "autoencoder training epochs"})
    batch_size: int = field(default=128, metadata={"help": "autoencoder batch size"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    noise: float = field(default=0.1, metadata={"help": "std of the input corruption (paper hash)"})
    dropout: float = field(default=0.2, metadata={"help": "dropout on the code while training"})
    threshold: float = field(
        default=0.0, metadata={"help": "a bit is set where ReLU > this (paper hash)"}
    )
    train_limit: int = field(
        default=100_000, metadata={"help": "at most this many images (evenly spaced) train it"}
    )
    radius: int | None = field(
        default=None, metadata={"help": "Hamming radius of a match; unset: paper 0, invariant 8"}
    )
    sheet_groups: int = field(default=16, metadata={"help": "groups shown in the contact sheet"})
    seed: int = field(default=0, metadata={"help": "seed of the autoencoder training"})

    def __post_init__(self) -> None:
        for name in ("bits", "epochs", "batch_size", "train_limit"):
            if getattr(self, name) < 1:
                raise DcganError(f"{name} must be positive, got {getattr(self, name)}")
        if self.hash not in ("paper", "invariant"):
            raise DcganError(f"hash must be paper or invariant, got {self.hash!r}")
        if self.bits % 8:
            raise DcganError(f"bits must be a multiple of 8, got {self.bits}")
        if self.radius is not None and not 0 <= self.radius < self.bits:
            raise DcganError(f"radius must lie in 0..{self.bits - 1}, got {self.radius}")
        if not 0.0 <= self.dropout < 1.0:
            raise DcganError(f"dropout must lie in [0, 1), got {self.dropout}")


@dataclass
class FacesConfig:
    """Face crops of paper §4.2: OpenCV's Haar face detector, detections
    above a minimum size, square crops with a margin, resized to the training size."""

    size: int = field(default=64, metadata={"help": "side of the written crops"})
    min_face: int = field(
        default=48, metadata={"help": "smallest detected face side kept, in source pixels"}
    )
    margin: float = field(
        default=0.2, metadata={"help": "extra border around a box, as a fraction of its side"}
    )
    scale_factor: float = field(default=1.1, metadata={"help": "detector's pyramid step"})
    min_neighbors: int = field(default=5, metadata={"help": "detector's overlap votes to keep"})

    def __post_init__(self) -> None:
        if self.size < 1 or self.min_face < 1:
            raise DcganError(
                f"size and min_face must be positive, got {self.size}, {self.min_face}"
            )
        if self.margin < 0:
            raise DcganError(f"margin must be non-negative, got {self.margin}")
        if self.scale_factor <= 1.0:
            raise DcganError(f"scale_factor must exceed 1, got {self.scale_factor}")
