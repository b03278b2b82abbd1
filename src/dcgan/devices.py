"""Which torch device a job runs on, and the precision its math runs in: shared by training
and the metrics."""

from __future__ import annotations

from pathlib import Path

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


# CPU flags of native bf16 matrix math: AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake+) and AMX.
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them; empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (read from its flags, not guessed from its model)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(cpu_flags() & BF16_CPU_FLAGS)
    return False


def resolve_precision(requested: str, device: torch.device, cpu_bf16: bool = False) -> str:
    """`fp32` or `bf16` for a `precision` option. `auto` is bf16 where the device computes
    bf16 natively (`native_bf16`) and fp32 elsewhere; on a CPU, only for the jobs whose
    results were measured to hold in bf16 there (`cpu_bf16`, bench/precision_ops.py and
    bench/precision_parity.py; docs/speed.md)."""
    if device.type not in ("cuda", "cpu"):
        return "fp32"  # torch's bf16 autocast covers CUDA and CPU
    if requested != "auto":
        return requested
    if device.type == "cpu" and not cpu_bf16:
        return "fp32"
    return "bf16" if native_bf16(device) else "fp32"
