"""dcgan: Deep Convolutional GANs (Radford, Metz & Chintala, ICLR 2016) in PyTorch.

The public names are imported on first use (PEP 562), so `import dcgan` and `dcgan --help`
do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one place the version is set (pyproject.toml reads it)

# public name -> the module that defines it
_LAZY = {
    "DcganError": "dcgan.errors",
    "Discriminator": "dcgan.models",
    "Generator": "dcgan.models",
    "ModelConfig": "dcgan.config",
    "TrainConfig": "dcgan.config",
    "TrainingInterrupted": "dcgan.training",
    "forget": "dcgan.experiments.forget",
    "load": "dcgan.sampling",
    "prepare": "dcgan.data.prepare",
    "project": "dcgan.experiments.project",
    "pull": "dcgan.pull",
    "sample": "dcgan.sampling",
    "save_pretrained": "dcgan.pretrained",
    "train": "dcgan.training",
    "visualize": "dcgan.experiments.visualize",
}
__all__ = [
    "DcganError",
    "Discriminator",
    "Generator",
    "ModelConfig",
    "TrainConfig",
    "TrainingInterrupted",
    "__version__",
    "forget",
    "load",
    "prepare",
    "project",
    "pull",
    "sample",
    "save_pretrained",
    "train",
    "visualize",
]

if TYPE_CHECKING:
    from dcgan.config import ModelConfig, TrainConfig
    from dcgan.data.prepare import prepare
    from dcgan.errors import DcganError
    from dcgan.experiments.forget import forget
    from dcgan.experiments.project import project
    from dcgan.experiments.visualize import visualize
    from dcgan.models import Discriminator, Generator
    from dcgan.pretrained import save_pretrained
    from dcgan.pull import pull
    from dcgan.sampling import load, sample
    from dcgan.training import TrainingInterrupted, train


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dcgan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
