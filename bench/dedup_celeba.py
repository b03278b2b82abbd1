"""Measured quality of `dcgan dedup` on real CelebA, against imagehash's pHash.

Plants 300 near-duplicates of random originals among the 5,999 aligned CelebA JPEGs of
shared/data (75 each: JPEG re-encode at quality 30-60, a 1-3 px shift-crop, +-10%
brightness, a 90-110% resize), runs `dedup` once (timing, RAM) and groups the same hashes at
Hamming radius 0..4; pHash (64 bits) is grouped the same way. Counts per radius: recall of
the planted pairs, precision of all flagged pairs, and the false-positive rate (the share
of the 5,999 distinct originals put in a group with another original; ~30 photos per
person, so same-person photos are not duplicates). Writes bench/results/dedup_celeba.json.

    PYTHONPATH=src python bench/dedup_celeba.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import SHARED  # noqa: E402

from dcgan.config import DedupConfig  # noqa: E402
from dcgan.data.prepare import prepare  # noqa: E402
from dcgan.experiments.dedup import dedup, group_labels  # noqa: E402

KINDS = ("jpeg", "shift", "brightness", "resize")
PLANTED = 300
RADII = range(5)


def perturb(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """A near-duplicate of one encoded image, saved as JPEG (quality 30-60 for `jpeg`)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    quality = 95
    if kind == "jpeg":
        quality = int(rng.integers(30, 61))
    elif kind == "shift":
        dx, dy = (int(v) for v in rng.integers(1, 4, size=2) * rng.choice([-1, 1], size=2))
        img = img.crop((max(dx, 0), max(dy, 0), w + min(dx, 0), h + min(dy, 0)))
    elif kind == "brightness":
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.9, 1.1)))
    else:
        f = float(rng.uniform(0.9, 1.1))
        img = img.resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def plant(tar: Path, out: Path, seed: int = 0) -> tuple[list[tuple[int, int, str]], int]:
    """Copy `tar` into `out` with PLANTED near-duplicates appended; return the planted
    (original index, copy index, kind) triples and the number of originals."""
    rng = np.random.default_rng(seed)
    with tarfile.open(tar) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        datas = [tf.extractfile(m).read() for m in members]
    n = len(datas)
    originals = rng.choice(n, PLANTED, replace=False)
    pairs = []
    with tarfile.open(out, "w") as tf:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        for m, data in zip(members, datas, strict=True):
            add(m.name, data)
        for k, i in enumerate(originals):
            kind = KINDS[k % len(KINDS)]
            add(f"planted/{k:04d}_{kind}.jpg", perturb(datas[i], kind, rng))
            pairs.append((int(i), n + k, kind))
    return pairs, n


def identical_originals(thumbs: np.ndarray, n: int, tol: float = 4.0) -> set[tuple[int, int]]:
    """Pairs of originals whose 32 px thumbnails differ by under `tol` grey levels on
    average: CelebA's own near-duplicates (the same photo under two numbers)."""
    x = thumbs[:n].astype(np.float32)
    small = x.reshape(n, 3, 8, 4, 8, 4).mean((1, 3, 5)).reshape(n, 64)
    found = set()
    for start in range(0, n, 500):
        d = np.abs(small[start : start + 500, None] - small[None]).mean(-1)
        for i, j in zip(*np.nonzero(d < tol), strict=True):
            i = int(i) + start
            if i < j and np.abs(x[i] - x[j]).mean() < tol:
                found.add((i, int(j)))
    return found


def score(labels: np.ndarray, pairs: list, n: int, identical: set) -> dict:
    """Recall of planted pairs, precision of flagged pairs, false-positive rate; flagged
    pairs of CelebA's own identical originals are counted apart, as `identical_found`."""
    sizes = np.bincount(labels)
    flagged = int((sizes * (sizes - 1) // 2).sum())
    found = [labels[i] == labels[j] for i, j, _ in pairs]
    orig_sizes = np.bincount(labels[:n], minlength=len(sizes))
    false_images = int((orig_sizes[labels[:n]] > 1).sum())
    false_pairs = int((orig_sizes * (orig_sizes - 1) // 2).sum())
    found_identical = sum(labels[i] == labels[j] for i, j in identical)
    by_kind = {
        k: float(np.mean([f for f, (_, _, kind) in zip(found, pairs, strict=True) if kind == k]))
        for k in KINDS
    }
    return {
        "recall": float(np.mean(found)),
        "recall_by_kind": by_kind,
        "precision": sum(found) / flagged if flagged else None,
        "flagged_pairs": flagged,
        "false_pairs_among_originals": false_pairs,
        "false_positive_rate": false_images / n,
        "false_pair_rate": false_pairs / (n * (n - 1) / 2),
        "identical_originals_flagged": int(found_identical),
        "precision_counting_identical": (sum(found) + int(found_identical)) / flagged
        if flagged
        else None,
    }


def phash_codes(tar: Path) -> np.ndarray:
    import imagehash

    with tarfile.open(tar) as tf:
        hashes = [
            imagehash.phash(Image.open(tf.extractfile(m))).hash.ravel()
            for m in tf.getmembers()
            if m.isfile()
        ]
    return np.packbits(np.array(hashes), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DedupConfig.epochs)
    parser.add_argument("--out", default="bench/results/dedup_celeba.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tar = SHARED / "celeba_aligned_00.tar"
    if not tar.is_file():
        sys.exit(f"{tar} is absent")
    with tempfile.TemporaryDirectory() as tmp:
        planted = Path(tmp, "planted.tar")
        pairs, n = plant(tar, planted)
        start = time.perf_counter()
        result = dedup(planted, Path(tmp, "dedup"), DedupConfig(epochs=args.epochs), workers=1)
        total_s = time.perf_counter() - start
        codes = np.load(Path(tmp, "dedup", "hashes.npy"))
        thumbs = prepare(planted, Path(tmp, "thumbs"), 32, 3, workers=1, progress=False)
        identical = identical_originals(np.load(thumbs / "images.npy"), n)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        pcodes = phash_codes(planted)
        phash_s = time.perf_counter() - t0
    rows = {"dedup_ae128": {}, "phash64": {}}
    for r in RADII:
        rows["dedup_ae128"][r] = score(group_labels(codes, r), pairs, n, identical)
        rows["phash64"][r] = score(group_labels(pcodes, r), pairs, n, identical)
    count = result.count
    report = {
        "images": count,
        "originals": n,
        "planted": len(pairs),
        "identical_original_pairs": len(identical),
        "epochs": args.epochs,
        "unique_hashes": int(len(np.unique(codes, axis=0))),
        "timing_s": {
            "thumbnails_32px": round(result.thumbs_s, 2),
            "train_autoencoder": round(result.train_s, 2),
            "hash_and_group": round(result.hash_s, 2),
            "total": round(total_s, 2),
            "phash": round(phash_s, 2),
        },
        "images_per_s": round(count / total_s, 1),
        "images_per_s_without_training": round(count / (total_s - result.train_s), 1),
        "peak_rss_mib": round(rss_mib, 1),
        "threads": 1,
        "results": rows,
    }
    print(f"{count} images ({len(pairs)} planted), {total_s:.1f} s, peak RSS {rss_mib:.0f} MiB")
    print(f"{len(identical)} pairs of originals are near-identical photos (mean |diff| < 4)")
    print(
        f"{'method':12} {'r':>2} {'recall':>7} {'precision':>9} {'prec+ident':>10}"
        f" {'FPR':>7} {'flagged':>8}"
    )
    for method, by_r in rows.items():
        for r, s in by_r.items():
            p = f"{s['precision']:.3f}" if s["precision"] is not None else "-"
            pi = s["precision_counting_identical"]
            pi = f"{pi:.3f}" if pi is not None else "-"
            print(
                f"{method:12} {r:>2} {s['recall']:7.3f} {p:>9} {pi:>10} "
                f"{s['false_positive_rate']:7.4f} {s['flagged_pairs']:8d}"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
