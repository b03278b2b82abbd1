"""Typed configuration of training and of the model: the single source of defaults for the
CLI and the Python API (the other verbs' options: options_data.py, options_tools.py).

The defaults are the paper's recipe (paper §4): batch 128, Adam lr 2e-4, beta1 0.5,
z ~ U[-1, 1]^100, pixels in [-1, 1], no augmentation, non-saturating G loss (`augment`
adds the differentiable augmentation of dcgan.augment, off by default).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from dcgan.errors import DcganError
from dcgan.options import (
    CACHE,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    STEPS,
    Check,
    between,
    count,
    opt,
    validate,
)

ALLOWED_SIZES = (16, 32, 64, 128, 256)
DEFAULT_EPOCHS = 5  # a training run given no limit stops after this many epochs
# The SVM's C candidates of paper §5 (dcgan.experiments.classify.linear).
SIZE = Check(lambda v: v in ALLOWED_SIZES, "a power of two in 16, 32, 64, 128, 256")


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

    size: int = opt(64, "image side in pixels (16..256, power of 2)", check=SIZE)
    channels: Literal[1, 3] | None = opt(None, "image channels (default: the data's)")
    nz: int = opt(100, "latent dimension", check=count(100_000))
    ngf: int = opt(128, "G width: channels of G's last hidden layer", check=count(8192))
    ndf: int = opt(128, "D width: channels of D's first layer", check=count(8192))
    # Options beyond Figure 1, for the authors' released models (see dcgan.convert).
    kernel: int = opt(4, "kernel side of every (transposed) conv", check=count(64))
    padding: int | None = opt(
        None, "padding of every conv (default: (kernel - 1) // 2)", check=count(64, low=0)
    )
    strides: tuple[int, ...] | None = opt(
        None,
        "strides of G's convs, input to output, e.g. 2,1,2,1,2,1; D mirrors them"
        " (default: 2 for every stage)",
        check=count(64),
    )
    widths: tuple[int, ...] | None = opt(
        None,
        "channels of G's projection and hidden layers in units of ngf, e.g. 4,4,2,2,1,1;"
        " D mirrors them in units of ndf (default: 2^(n-1),...,2,1)",
        check=count(1024),
    )
    proj_norm: Literal["channel", "unit"] = opt(
        "channel",
        "BatchNorm after G's projection of z to 4x4 maps: statistics per map (channel, as in"
        " Figure 1) or per unit, each pixel of each map apart (unit)",
    )
    bn_eps: float = opt(1e-5, "BatchNorm epsilon", check=POSITIVE)

    def __post_init__(self) -> None:
        # Lists from JSON or the command line become tuples, so configs compare equal.
        self.strides = tuple(self.strides) if self.strides is not None else None
        self.widths = tuple(self.widths) if self.widths is not None else None
        validate(self)
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

    data: str = opt("digits", "data source (path or name)")
    out: str = opt("runs", "parent folder of numbered run dirs")
    format: str | None = opt(None, "source format (default: detected from the path)")
    model: ModelConfig = opt(factory=ModelConfig)
    # Stopping: whichever limit is reached first; none given = DEFAULT_EPOCHS epochs. On
    # resume the run's own limits hold unless one is given (dcgan.resume).
    steps: int | None = opt(
        None,
        f"stop after this many steps in all (no limit given: {DEFAULT_EPOCHS} epochs;"
        " --resume: the run's limits)",
        check=STEPS,
    )
    epochs: float | None = opt(None, "stop after this many epochs in all", check=POSITIVE)
    time_limit: float | None = opt(
        None,
        "stop after this many minutes of training in all, resumed sessions summed"
        " (checkpoint first)",
        check=POSITIVE,
    )
    batch_size: int = opt(128, "mini-batch size", check=count(1_000_000))
    lr: float = opt(2e-4, "Adam learning rate (G and D)", check=NON_NEGATIVE)
    # Departures from the paper's recipe, off by default (bench/mnist_quality.py measures them).
    lr_d: float | None = opt(None, "D's learning rate (default: lr)", check=NON_NEGATIVE)
    lr_g: float | None = opt(None, "G's learning rate (default: lr)", check=NON_NEGATIVE)
    real_label: float = opt(
        1.0,
        "D's target for real images (0.9 = one-sided smoothing)",
        check=between(0.5, 1, open_lo=True),
    )
    beta1: float = opt(0.5, "Adam beta1", check=between(0, 1, open_hi=True))
    beta2: float = opt(0.999, "Adam beta2", check=between(0, 1, open_hi=True))
    z_dist: Literal["uniform", "normal"] = opt("uniform", "prior of z")
    augment: Literal["none", "diffaugment", "ada"] = opt(
        "none",
        "differentiable augmentation of D's inputs, real and generated, for small datasets:"
        " none (the paper's recipe), diffaugment (colour, translation, cutout on every image),"
        " ada (the same, each with a probability adapted to D's overfitting)",
    )
    seed: int = opt(0, "random seed of the run", check=SEED)
    ema: float | None = opt(
        None,
        "EMA decay of G, e.g. 0.999 (default: no EMA)",
        check=between(0, 1, open_lo=True, open_hi=True),
    )
    log_every: int = opt(50, "steps between log lines", check=STEPS)
    sample_every: int = opt(500, "steps between sample grids", check=STEPS)
    checkpoint_every: int = opt(1000, "steps between checkpoints", check=STEPS)
    # A slow step (a 64 px step of the paper's width takes ~15 s on one CPU core) would put
    # hours of work between step checkpoints; a kill then loses them.
    checkpoint_minutes: float = opt(
        10.0,
        "also save a checkpoint when this many minutes passed without one (0: only"
        " --checkpoint-every), so a kill loses at most that much",
        check=between(0, 10**6),
    )
    keep: int = opt(3, "number of step checkpoints kept", check=count(1_000_000))
    device: str = opt("auto", "auto, cpu, cuda, cuda:1, mps")
    # Speed (bench/train_speed.py): channels-last is faster on CPU and GPU and keeps the
    # math (float rounding aside); compile costs a cold compile (cached under --cache), so it
    # stays opt-in.
    channels_last: bool = opt(True, "use channels-last memory")
    compile: bool = opt(False, "torch.compile G and D (kernels cached under --cache)")
    precision: Literal["auto", "fp32", "bf16"] = opt(
        "auto",
        "math precision; auto: bf16 autocast where the device computes bf16 natively (CUDA"
        " GPUs with bf16; CPUs with AVX512-BF16 or AMX, about 2x faster there), fp32"
        " elsewhere. A run keeps its precision on resume",
    )
    amp: bool = opt(False, "deprecated: the same as --precision bf16")
    # Multi-process training (torchrun; dcgan.distributed).
    batch_per_rank: bool = opt(
        False,
        "--batch-size is each process's batch, not the global one"
        " (torchrun with N processes: the global batch is N x --batch-size)",
    )
    sync_bn: bool = opt(False, "torchrun on GPUs: BatchNorm over the global batch (SyncBatchNorm)")
    cache: str = opt(CACHE, "where raw sources are prepared once")
    progress: bool = opt(True, "show a progress bar")
    # Evaluation during training (dcgan.metrics): logged, and best.pt kept by the metric.
    eval_every: int = opt(
        0, "steps between evaluations, 0 = never (keeps best.pt)", check=count(10**12, low=0)
    )
    eval_metric: Literal["fid", "kid", "is", "pr"] = opt("fid", "metric that picks best.pt")
    eval_n: int = opt(2000, "samples (and real images) per eval", check=count(10**7, low=2))
    eval_extractor: str = opt(
        "inception", "eval features: inception, inception-fidelity, mnist or a .pt"
    )
    eval_data: str | None = opt(None, "real data of the eval (default: the training data)")
    inception_weights: str | None = opt(
        None,
        "torch-fidelity's Inception-v3 weights (inception-fidelity, IS; default: torch's cache)",
    )
    # The watchdog (dcgan.watchdog): health probes, alarms, and what an alarm does.
    health_every: int = opt(
        100, "steps between health probes of G and D, 0 = no watchdog", check=count(10**12, low=0)
    )
    on_alarm: Literal["warn", "stop", "rollback"] = opt(
        "warn",
        "on an alarm (mode-collapse, d-wins, ...): warn; stop (checkpoint first); or rollback to"
        " healthy.pt, the last checkpoint before the trouble began, with halved learning rates"
        " and a fresh z stream",
    )
    max_rollbacks: int = opt(3, "rollbacks before the run stops", check=count(1000, low=0))

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        validate(self)
        if self.amp:  # the old switch, kept for one release
            self.precision = "bf16"
        # An empty path would mean the current folder (dcgan.data.sources says it alike).
        if not self.data.strip():
            raise DcganError("the data source is empty: name a folder, a file or a dataset")
        if not self.out.strip():
            raise DcganError("out is empty: name the folder for the runs")

    def rates(self) -> tuple[float, float]:
        """(G's, D's) learning rates: `lr_g` and `lr_d`, each `lr` when unset."""
        return (
            self.lr if self.lr_g is None else self.lr_g,
            self.lr if self.lr_d is None else self.lr_d,
        )

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """The step the run's limits stop at (the fewest of --steps and --epochs; else
        DEFAULT_EPOCHS unless only --time-limit is set); None: no step limit."""
        limits = [self.steps] if self.steps else []
        if self.epochs:
            limits.append(math.ceil(self.epochs * steps_per_epoch))
        if not limits and not self.time_limit:
            limits.append(DEFAULT_EPOCHS * steps_per_epoch)
        return min(limits) if limits else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
