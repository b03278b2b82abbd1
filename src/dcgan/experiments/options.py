"""The options of the latent-space tools of paper §6, one dataclass per verb: the defaults,
help and checks that both the `dcgan` verbs (their flags) and the Python functions of
dcgan.experiments (their keyword arguments) use. Free of torch, so `dcgan --help` is quick."""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.errors import DcganError
from dcgan.options import (
    CACHE,
    MAX_IMAGES,
    MAX_SHOWN,
    NON_NEGATIVE,
    SEED,
    TRUNCATION,
    TRUNCATION_HELP,
    Options,
    count,
    opt,
)

# Vector arithmetic (paper §6.3.2, Fig. 7): Y's neighbors are Y + U[-0.25, 0.25]^nz, 8 of them.
ARITHMETIC_NOISE = 0.25
ARITHMETIC_NEIGHBORS = 8
# Samples of the tests that follow a figure: arithmetic --auto's smile test (neutral faces)
# and forget's hit-rate test; the CLI's --test-n and the API's n share them.
SMILE_TEST_N = 200
HIT_RATE_N = 1000


@dataclass
class InterpolateConfig(Options):
    """A walk through z (paper §6.1, Fig. 4)."""

    points: int = opt(9, "number of points walked through", check=count(MAX_SHOWN, low=2))
    segment_steps: int = opt(
        8,
        "interpolation steps from one point to the next (a row shows N+1 images)",
        check=count(MAX_SHOWN),
        old=("steps",),
    )
    spherical: bool = opt(
        False, "spherical interpolation (slerp) instead of linear", old=("slerp",)
    )
    truncation: float = opt(1.0, TRUNCATION_HELP, check=TRUNCATION)


@dataclass
class SheetConfig(Options):
    """A numbered contact sheet for picking exemplar seeds by eye."""

    n: int = opt(100, "number of samples (seeds 0..n-1)", check=count(MAX_SHOWN))


@dataclass
class ArithmeticConfig(Options):
    """Vector arithmetic on averaged z (paper §6.3.2, Fig. 7): Y and its noisy neighbors."""

    noise: float = opt(
        ARITHMETIC_NOISE, "Y's neighbors are Y + U[-noise, noise]^nz", check=NON_NEGATIVE
    )
    neighbors: int = opt(
        ARITHMETIC_NEIGHBORS,
        "noisy neighbors of Y drawn",
        check=count(MAX_SHOWN),
        old=("neighbours", "n_neighbours"),
    )
    noise_seed: int = opt(0, "seed of the neighbors' noise", check=SEED)


@dataclass
class TurnConfig(Options):
    """A pose vector from profile-detected faces (paper §6.3.2, Fig. 8)."""

    pool: int = opt(
        400,
        "samples (seeds 0..N-1) searched for left- and right-facing faces",
        check=count(MAX_IMAGES, low=2),
    )
    rows: int = opt(8, "faces turned", check=count(MAX_SHOWN))
    frames: int = opt(7, "frames per row", check=count(MAX_SHOWN, low=2))
    scale: float = opt(2.0, "rows go from z - s*v to z + s*v", check=NON_NEGATIVE)


@dataclass
class NeighborsConfig(Options):
    """Nearest training images of samples, and the NN-distance ratio (memorization)."""

    n: int = opt(8, "samples on the sheet (seeds 0..n-1)", check=count(MAX_SHOWN))
    k: int = opt(5, "nearest training images shown per sample", check=count(MAX_SHOWN))
    ratio_samples: int = opt(
        500,
        "samples whose nearest-neighbor distance is averaged for the ratio (at least n)",
        check=count(MAX_IMAGES),
        old=("stats", "n_stats"),
    )
    held_out: int = opt(
        500,
        "the data's last N images, held out as the ratio's real baseline",
        check=count(MAX_IMAGES),
    )
    cache: str = opt(CACHE, "where sources are prepared once")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n > self.ratio_samples:
            raise DcganError(
                f"ratio_samples must be at least n ({self.n}), got {self.ratio_samples}"
            )


@dataclass
class ForgetConfig(Options):
    """Making G forget an object by dropping its feature maps (paper §6.3.1, Fig. 6)."""

    layer: int = opt(2, "G's hidden conv layer, counted from the top", check=count(64))
    show: int = opt(8, "seeds in the figure", check=count(MAX_SHOWN))
    renormalize: bool = opt(
        False,
        "BatchNorm above the layer re-estimated without the dropped maps",
        old=("renormalise",),
    )


@dataclass
class VisualizeConfig(Options):
    """Guided backpropagation of D's last-layer features (paper §6.2, Fig. 5)."""

    images: int = opt(6, "real images shown", check=count(MAX_SHOWN), old=("n",))
    first: int = opt(0, "index of the first image in the data", check=count(10**12, low=0))
    top_channels: int = opt(
        4, "D channels shown: the most active ones", check=count(MAX_SHOWN), old=("k",)
    )
    d_channels: tuple[int, ...] | None = opt(
        None,
        "D channels to show instead of the most active, e.g. 3,17",
        check=count(10**6, low=0),
        old=("channels",),
    )
    seed: int = opt(0, "seed of the random D it is compared with", check=SEED)
    cache: str = opt(CACHE, "where sources are prepared once")

    def __post_init__(self) -> None:
        if self.d_channels is not None:
            self.d_channels = tuple(self.d_channels)
        super().__post_init__()
