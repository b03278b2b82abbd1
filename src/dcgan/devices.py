"""Which torch device a job runs on: shared by training and the metrics."""

from __future__ import annotations

import torch

from dcgan.errors import DcganError


def pick_device(name: str) -> torch.device:
    """`auto` (CUDA when there is a GPU, else CPU) or a torch device name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DcganError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DcganError("device cuda was asked for but no CUDA GPU is available")
    return device
