"""Shared by the speed benches: the CPU's name, its measured fp32 matmul peak, the CelebA
data packed once, and writing a result table as JSON under bench/results/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CELEBA = SHARED / "celeba_aligned_00.tar"
CACHE = ROOT / ".cache" / "dcgan"


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux), and the threads torch uses."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {torch.get_num_threads()} torch threads"


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def matmul_peak(device: torch.device, n: int = 2048, repeat: int = 5) -> float:
    """Measured fp32 FLOP/s of a large square matmul: the best of `repeat` runs."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
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


def write_results(name: str, result: dict) -> Path:
    path = ROOT / "bench" / "results" / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
