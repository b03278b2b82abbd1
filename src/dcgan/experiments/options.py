"""The options of the latent-space tools of paper §6, one dataclass per verb: the defaults,
help and checks that both the `dcgan` verbs (their flags) and the Python functions of
dcgan.experiments (their keyword arguments) use. Free of torch, so `dcgan --help` is quick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dcgan.errors import DcganError
from dcgan.options import (
    CACHE,
    MAX_IMAGES,
    MAX_SHOWN,
    NON_NEGATIVE,
    POSITIVE,
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
# A z file of `dcgan project` (dcgan.experiments.zfile): its rows are points p0, p1, ...
LATENTS_HELP = "a z file of dcgan project (.npy or .json): seeds may then name its rows p0, p1, ..."


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
    latents: str | None = opt(None, LATENTS_HELP)
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
    latents: str | None = opt(None, LATENTS_HELP)


@dataclass
class TurnConfig(Options):
    """A pose vector from left- and right-facing faces (paper §6.3.2, Fig. 8)."""

    pose: Literal["landmarks", "profile"] = opt(
        "landmarks",
        "how a face's pose is read: the yaw of dlib's landmarks (extra 'landmarks') or "
        "OpenCV's profile cascade on the image and its mirror (extra 'faces')",
    )
    pool: int = opt(
        600,
        "samples (seeds 0..N-1) searched for left- and right-facing faces",
        check=count(MAX_IMAGES, low=2),
    )
    ends: int = opt(
        20,
        "with --pose landmarks: the vector is the mean z of the N most right-turned minus "
        "the N most left-turned faces of the pool",
        check=count(MAX_IMAGES),
    )
    rows: int = opt(8, "faces turned", check=count(MAX_SHOWN))
    frames: int = opt(7, "frames per row", check=count(MAX_SHOWN, low=2))
    # 1: the scale of docs/digiface.md's turn measure. At 2 the yaw of its rows saturates and
    # random directions turn rows as well (40 rows: 0.85 vs 0.47 random; at 1, 0.975 vs 0.31).
    scale: float = opt(1.0, "rows go from z - s*v to z + s*v", check=NON_NEGATIVE)


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
    top: int = opt(
        0,
        "drop only the TOP first maps of weight > 0 in --rank's order (0: all of them, the "
        "paper's rule)",
        check=count(4096, low=0),
    )
    rank: Literal["weight", "causal"] = opt(
        "weight",
        "the order of --top: by regression weight, or causal (the fall of the detector's "
        "count on the first 200 boxed samples when each map is dropped alone)",
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


@dataclass
class ProjectConfig(Options):
    """Photos into z (image -> z): Adam on z from several starts, the prior kept in view."""

    search_steps: int = opt(200, "Adam steps on z per start", check=count(100_000, low=0))
    restarts: int = opt(4, "random starts per image; the closest result is kept", check=count(64))
    lr: float = opt(0.1, "Adam's learning rate on z", check=POSITIVE)
    pixel_weight: float = opt(
        1.0, "weight of the pixel distance (mean squared)", check=NON_NEGATIVE
    )
    feature_weight: float = opt(
        1.0,
        "weight of the distance of D's features (unused for a model without D)",
        check=NON_NEGATIVE,
    )
    norm_weight: float = opt(
        0.1,
        "weight of the penalty that keeps |z| at the prior's typical norm",
        check=NON_NEGATIVE,
    )
    encoder_steps: int = opt(
        0,
        "train an encoder on G's own samples this many steps to give one start (0: off)",
        check=count(100_000, low=0),
    )
    seed: int = opt(0, "seed of the random starts (and of the encoder's samples)", check=SEED)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pixel_weight == 0 and self.feature_weight == 0:
            raise DcganError("pixel_weight and feature_weight cannot both be 0")
