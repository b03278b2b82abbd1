"""The options of the verbs around a trained generator, one dataclass per verb: sample,
evaluate and report. The `dcgan` verbs generate their flags from them and the Python
functions (dcgan.sampling.sample, dcgan.metrics.evaluate, dcgan.report.write_report) take
them, or their fields as keyword arguments. Free of torch, so `dcgan --help` is quick."""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.options import CACHE, MAX_IMAGES, MAX_SHOWN, SEED, Options, count, opt


@dataclass
class SampleConfig(Options):
    """Samples of G for seeds 0..n-1 (or the seeds given)."""

    n: int = opt(64, "number of samples (seeds 0..n-1)", check=count(MAX_IMAGES))
    compile: bool = opt(False, "torch.compile G (for many samples)")


@dataclass
class EvaluateConfig(Options):
    """Sample-quality metrics of a generator against real images."""

    data: str | None = opt(None, "real images, any source (default: the run's training data)")
    metrics: str = opt("fid,kid,is,pr", "comma list of fid, kid, is, pr")
    n: int = opt(10000, "samples, and as many real images", check=count(10**7, low=2))
    extractor: str = opt(
        "inception",
        "inception (torch-fidelity's Inception-v3), mnist (the shipped MNIST classifier)"
        " or a classifier .pt from --train-extractor",
    )
    inception_weights: str | None = opt(
        None, "Inception-v3 weights file (default: torch's hub cache)"
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
