"""The options of the dataset tools and of paper §5's classifier, one dataclass per verb:
prepare, dedup (§4.1.1), faces (§4.2) and classify (§5). The `dcgan` verbs generate their
flags from them and the Python functions take them. Free of torch, so `dcgan --help` is
quick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dcgan.errors import DcganError
from dcgan.options import (
    CACHE,
    FINITE,
    MAX_SHOWN,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Check,
    Options,
    between,
    count,
    opt,
    validate,
)

DEFAULT_C = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class DedupConfig:
    """The semantic-hash de-duplication of paper §4.1.1 on 32x32 centre crops: the paper's
    3072-128-3072 de-noising autoencoder, or one trained to be invariant to copies."""

    hash: Literal["paper", "invariant", "robust", "combined"] = opt(
        "invariant",
        "paper: paper §4.1.1 exactly; invariant: trained on near-duplicate copies;"
        " robust: also grayscale, mirrored, framed, texted, rotated and re-cropped copies;"
        " combined: the robust hash OR pHash over several views of the full image (borders"
        " trimmed, mirrored), the most web copies found at pHash's false positives",
    )
    bits: int = opt(128, "code units = hash bits (a multiple of 8)", check=count(4096, low=8))
    epochs: int = opt(20, "autoencoder training epochs", check=count(1_000_000))
    batch_size: int = opt(128, "autoencoder batch size", check=count(1_000_000))
    lr: float = opt(1e-3, "Adam learning rate", check=POSITIVE)
    noise: float = opt(
        0.1,
        "std of the Gaussian corruption of the autoencoder's input (paper hash)",
        check=NON_NEGATIVE,
        flag="--input-noise",
        old=("--noise",),
    )
    dropout: float = opt(
        0.2, "dropout on the code while training", check=between(0, 1, open_hi=True)
    )
    threshold: float = opt(0.0, "a bit is set where ReLU > this (paper hash)", check=FINITE)
    train_limit: int = opt(
        100_000, "at most this many images (evenly spaced) train it", check=count(10**9)
    )
    radius: int | None = opt(
        None,
        "Hamming radius of a match (default: 0 for the paper hash, 8 for invariant, 2 for"
        " robust, 1 for combined's learned hash)",
        check=count(4095, low=0),
    )
    views_radius: int = opt(  # its default and combined's radius 1: chosen on dev data
        2, "combined hash: Hamming radius of a pHash views match (of 64 bits)", check=count(32, 0)
    )
    sheet_groups: int = opt(16, "groups shown in the contact sheet", check=count(MAX_SHOWN, low=0))
    seed: int = opt(0, "seed of the autoencoder training", check=SEED)

    def __post_init__(self) -> None:
        validate(self)
        if self.bits % 8:
            raise DcganError(f"bits must be a multiple of 8, got {self.bits}")
        if self.radius is not None and not self.radius < self.bits:
            raise DcganError(f"radius must be in 0..{self.bits - 1}, got {self.radius}")


@dataclass
class FacesConfig:
    """Face crops of paper §4.2: OpenCV's Haar face detector, detections
    above a minimum size, square crops with a margin, resized to the training size."""

    size: int = opt(64, "side of the written crops", check=count(4096))
    min_face: int = opt(
        48, "smallest detected face side kept, in source pixels", check=count(10**5)
    )
    margin: float = opt(
        0.2, "extra border around a box, as a fraction of its side", check=between(0, 10)
    )
    scale_factor: float = opt(
        1.1, "detector's pyramid step", check=Check(lambda v: v > 1, "above 1")
    )
    min_neighbors: int = opt(5, "detector's overlap votes to keep", check=count(10_000, low=0))

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class PrepareConfig(Options):
    """How `prepare` packs a source (dcgan.data.prepare): centre-cropped squares of `size` px.
    Any side up to 4096 px packs; `dcgan prepare` keeps to the sizes train takes."""

    size: int = opt(
        64,
        "image side in pixels: 16..256, a power of 2, as train takes (Python: up to 4096)",
        check=count(4096),
    )
    channels: Literal[1, 3] | None = opt(None, "image channels (default: the source's)")
    format: str | None = opt(None, "source format (default: detected from the path)")
    key: str | None = opt(None, "array key in an npz")
    split: str = opt("train", "split to read")
    workers: int | None = opt(None, "decoding processes (default: all cores)", check=count(1024))


@dataclass
class ClassifyConfig:
    """Options of `classify` (paper §5.2; the `dcgan classify` flags)."""

    checkpoint: str = opt(
        "", "checkpoint file, run directory or model package (folder)", positional=True
    )
    data: str = opt("", "labelled source the examples are drawn from", required=True)
    test: str | None = opt(None, "test source (default: the data's test split or a fifth)")
    val: str | None = opt(None, "validation source for C and the CNN's search")
    val_size: int = opt(
        0, "else hold out this many examples of --data as validation", check=count(10**9, low=0)
    )
    format: str | None = opt(None, "source format (default: detected from the path)")
    labels_per_class: tuple[int, ...] = opt(
        (100,),
        "labelled examples per class, e.g. 10,100,1000 (0: all labels)",
        check=count(10**9, low=0),
    )
    repeats: int = opt(5, "random draws (K) per label count", check=count(10_000))
    seed: int = opt(0, "seed of the draws, random D and CNN", check=SEED)
    pixels: bool = opt(True, "raw-pixel SVM baseline")
    random_d: bool = opt(True, "random-D-features SVM baseline")
    cnn: bool = opt(True, "supervised CNN baseline")
    kmeans: bool = opt(False, "K-means baseline (Coates et al. 2011, paper Table 1)")
    kmeans_k: int = opt(1600, "centroids of the K-means baseline", check=count(1_000_000))
    kmeans_patches: int = opt(
        100_000, "random 6x6 patches the K-means is fitted on", check=count(10**9)
    )
    grid: int = opt(4, "each D layer max-pooled to grid x grid", check=count(256))
    bn: Literal["inferred", "running", "batch"] = opt(
        "inferred",
        "BatchNorm statistics of D's features: inferred over training images (the authors'"
        " protocol), running (of GAN training) or batch",
        flag="--feature-bn",
        old=("--bn",),
    )
    bn_images: int = opt(
        10_000, "training images the inferred statistics are over", check=count(10**8)
    )
    layers: tuple[int, ...] | None = opt(
        None, "D conv layers to use, e.g. 2,3 (default: all)", check=count(64)
    )
    shift: int = opt(
        0,
        "add each labelled example moved 1..N pixels up, down, left and right"
        " (4N copies) for every method; 0 = the paper's protocol",
        check=count(1024, low=0),
    )
    c_values: tuple[float, ...] = opt(
        DEFAULT_C,
        "candidates for the SVM's regularization constant C, chosen by validation",
        check=POSITIVE,
        flag="--c",
    )
    standardize: bool = opt(False, "standardize each feature before the SVM")
    c_once: bool = opt(
        False,
        "choose the SVM's C on the first random draw only and reuse it for the other draws"
        " of that label count (faster)",
    )
    c_carry: bool = opt(
        False, "with --c-once: reuse that C for the larger label counts too (fastest)"
    )
    folds: int = opt(5, "cross-validation folds without a val split", check=count(1000))
    cnn_trials: int = opt(8, "random-search trials of the CNN", check=count(10_000))
    cnn_steps: int = opt(500, "training steps of the CNN", check=count(10**9))
    cnn_batch_size: int = opt(32, "mini-batch of the CNN", check=count(1_000_000))
    batch_size: int = opt(500, "images per feature batch", check=count(1_000_000))
    threads: int | None = opt(None, "CPU threads of torch (default: torch's)", check=count(4096))
    out: str | None = opt(None, "folder for table, JSON and plot")
    cache: str = opt(CACHE, "prepared data and features")
    progress: bool = opt(True, "show progress")

    def __post_init__(self) -> None:
        self.labels_per_class = tuple(sorted(set(self.labels_per_class)))
        self.c_values = tuple(self.c_values)
        if not self.labels_per_class:
            raise DcganError("labels_per_class must name at least one count")
        validate(self)
        if self.val and self.val_size:
            raise DcganError("give a validation source or a validation size, not both")
        if self.kmeans_patches < self.kmeans_k:
            raise DcganError(
                f"kmeans_patches ({self.kmeans_patches}) must be at least kmeans_k"
                f" ({self.kmeans_k})"
            )

    @property
    def methods(self) -> list[str]:
        chosen = {
            "pixels": self.pixels,
            "random-d": self.random_d,
            "kmeans": self.kmeans,
            "cnn": self.cnn,
        }
        return ["dcgan", *(m for m, on in chosen.items() if on)]
