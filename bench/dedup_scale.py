"""Throughput and peak RSS of `dcgan dedup`'s hashing step as the number of images grows.

A saved invariant hash model (trained briefly on the first 3,000 CelebA thumbnails) hashes
a stream of the 5,999 CelebA JPEGs of shared/data repeated 1x, 10x, ... (each repeat
renamed, so every image has exact copies: the hashing cost does not depend on content, and
the grouping sees groups of `repeats`). Each size runs `dedup(..., model=...)` in its own
process, streamed from the tar (thumbnails go to a file on disk, never all in RAM), on
one thread and one decoding process; the process's peak RSS is read from getrusage. The rate
is then extrapolated to LSUN's 3M images. Writes bench/results/dedup_scale.json.

    python bench/dedup_scale.py [--repeats 1,10]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import SHARED, parse_args, results_path, write_results

from dcgan.data.base import Item
from dcgan.data.prepare import prepare
from dcgan.data.sources import open_source
from dcgan.experiments.dedup import dedup
from dcgan.experiments.dedup_hash import save_model, train_hash
from dcgan.options import opt
from dcgan.options_data import DedupConfig

TAR = SHARED / "celeba_aligned_00.tar"
LSUN = 3_000_000


def one_size(model: str, repeats: int, out: str) -> dict:
    """dedup of `repeats` renamed copies of the tar, in this process."""
    import dataclasses

    base = open_source(TAR)

    def items():
        return (Item(f"r{k}/{it.name}", it.data, None) for k in range(repeats) for it in base)

    source = dataclasses.replace(base, items=items, length=base.length and base.length * repeats)
    start = time.perf_counter()
    r = dedup(source, out, DedupConfig(hash="invariant"), model=model, workers=1)
    total = time.perf_counter() - start
    return {
        "images": r.count,
        "groups": len(r.groups),
        "thumbnails_s": round(r.thumbs_s, 2),
        "hash_and_group_s": round(r.hash_s, 2),
        "total_s": round(total, 2),
        "images_per_s": round(r.count / total, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "hashes_mib": round((Path(out) / "hashes.npy").stat().st_size / 2**20, 2),
    }


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    repeats: str = opt("1,10")
    epochs: int = opt(2, "the model's quality is not timed")
    hash: str = opt("invariant", "the hash timed: invariant or robust")
    one: str | None = opt(None, "MODEL,REPEATS,OUT: one size, in a child process (internal)")
    out: str = opt(str(results_path("dedup_scale")))


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    if args.one:
        model, repeats, out = args.one.split(",")
        print(json.dumps(one_size(model, int(repeats), out)))
        return
    if not TAR.is_file():
        sys.exit(f"{TAR} is absent")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        thumbs = prepare(TAR, Path(tmp, "thumbs"), 32, 3, workers=1, progress=False)
        images = np.load(thumbs / "images.npy", mmap_mode="r")[:3000]
        t0 = time.perf_counter()
        model = save_model(
            train_hash(images, DedupConfig(hash=args.hash, epochs=args.epochs)),
            Path(tmp, "model.pt"),
        )
        train_s = time.perf_counter() - t0
        for k in (int(v) for v in args.repeats.split(",")):
            cmd = [sys.executable, __file__, "--one", f"{model},{k},{Path(tmp, f'o{k}')}"]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
            print(row)
            rows.append(row)
    big = rows[-1]
    per_image_s = big["total_s"] / big["images"]
    report = {
        "threads": 1,
        "decoding_processes": 1,
        "train_3000_s": round(train_s, 2),
        "sizes": rows,
        "lsun_3m_extrapolated": {
            "from_images": big["images"],
            "hours": round(LSUN * per_image_s / 3600, 2),
            "hashes_mib": round(LSUN * 16 / 2**20, 1),
            "thumbnails_on_disk_gib": round(LSUN * 3072 / 2**30, 1),
        },
    }
    print(f"{'images':>8} {'img/s':>7} {'thumbs s':>9} {'hash+group s':>12} {'peak RSS MiB':>12}")
    for r in rows:
        print(
            f"{r['images']:8d} {r['images_per_s']:7.1f} {r['thumbnails_s']:9.1f}"
            f" {r['hash_and_group_s']:12.2f} {r['peak_rss_mib']:12.0f}"
        )
    e = report["lsun_3m_extrapolated"]
    print(
        f"3M images: {e['hours']} h at the {big['images']}-image rate, {e['hashes_mib']} MiB hashes"
    )
    write_results(Path(args.out), report)


if __name__ == "__main__":
    main()
