"""Shared by the speed benches: its measured fp32 matmul peak, and the
CelebA data packed once."""

from __future__ import annotations

import time

import torch
from harness import CACHE, SHARED

from dcgan.data.packed import PackedDataset, resolve_data

CELEBA = SHARED / "celeba_aligned_00.tar"


def matmul_peak(
    device: torch.device, n: int = 2048, repeat: int = 5, dtype: torch.dtype = torch.float32
) -> float:
    """Measured FLOP/s of a large square matmul in `dtype`: the best of `repeat` runs."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for _ in range(repeat + 1):  # the first run warms up
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def celeba(size: int) -> PackedDataset:
    """The 5,999 CelebA faces of the shared tar, packed at `size` px (once, into .cache)."""
    if not CELEBA.is_file():
        raise SystemExit(f"the CelebA tar is missing: {CELEBA}")
    return resolve_data(str(CELEBA), size, 3, cache=CACHE, progress=False)
