"""dcgan: Deep Convolutional GANs (Radford, Metz & Chintala, ICLR 2016) in PyTorch."""

from dcgan.config import ModelConfig, TrainConfig
from dcgan.data.prepare import prepare
from dcgan.errors import DcganError
from dcgan.experiments.forget import forget
from dcgan.experiments.visualize import visualize
from dcgan.models import Discriminator, Generator
from dcgan.sampling import load, sample
from dcgan.training import train

__all__ = [
    "DcganError",
    "Discriminator",
    "Generator",
    "ModelConfig",
    "TrainConfig",
    "forget",
    "load",
    "prepare",
    "sample",
    "train",
    "visualize",
]
__version__ = "0.1.0"
