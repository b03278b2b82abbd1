"""FID in the field's units (the TF FID Inception of StyleGAN2-ADA, NVIDIA's preprocessing):
between any two image sets, and sanity rows on the shared CIFAR-10 subset.

    python bench/fid_reference.py --a SOURCE_A --b SOURCE_B [--n 10000] [--size 32]
    python bench/fid_reference.py [--n 1000] [--splits 5]          # the sanity rows

With `--a/--b`, each source is anything `dcgan prepare` reads (a folder, npz, idx, the
CIFAR-10 python folder with `--split-a train --split-b test`, ...), packed at `--size` px;
`--n` images of each side are drawn with seed 0 (all of them with `--n 0`). The published
anchor is CIFAR-10 train (50,000) vs test (10,000): FID about 3.15 with TF Inception.

The sanity rows use `cifar10_train20k.npz` of the shared data. 61% of its images were decoded
from JPEG copies (`train_lossless` False) and JPEG alone moves FID, so every CIFAR side here
holds the same share of lossless images (that of the whole file, 39.5%), and one row measures
lossless against JPEG-decoded images directly. Rows: two disjoint halves of a pool of 2n
images (`--splits` random splits: mean ± std), the same at n/4 and n/2 (FID's bias in 1/N),
cats vs dogs, MNIST test vs CIFAR. Features are cached per image under the bench cache, so a
second run (or a larger --n) computes only the images not seen yet.
Writes bench/results/fid_reference.json (or --out).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import CACHE, SHARED, parse_args, print_table, write_results

from dcgan.data.packed import resolve_data
from dcgan.io import atomic_write
from dcgan.metrics.extractors import Extractor, get_extractor
from dcgan.metrics.fidelity import Features, Reference, compute
from dcgan.metrics.reference import data_hash, subset
from dcgan.options import opt

CIFAR = SHARED / "cifar10_train20k.npz"
MNIST = SHARED / "mnist.npz"
CAT, DOG = 3, 5
METRICS = ["fid", "kid"]


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    a: str | None = opt(None, "first image set (any source dcgan reads)")
    b: str | None = opt(None, "second image set")
    split_a: str = opt("train", "split of --a for sources that have one")
    split_b: str = opt("train", "split of --b")
    size: int = opt(32, "--a/--b are packed at this size (px)")
    n: int = opt(1000, "images a side (0: all, with --a/--b)")
    splits: int = opt(5, "random half/half splits of the CIFAR pool")
    seed: int = opt(0, "seed of the CIFAR pools and splits")
    threads: int = opt(1, "torch threads")
    out: str = opt("fid_reference", "results name under bench/results, or a path")


class FeatureStore:
    """Inception features of the images of one array, cached per image index on disk."""

    def __init__(self, name: str, images: np.ndarray, key: str, ext: Extractor) -> None:
        digest = hashlib.sha256(f"{key}|{ext.name}".encode()).hexdigest()[:16]
        self.path = CACHE / "fid-features" / f"{name}-{digest}.npz"
        self.images, self.ext, self.done = images, ext, {}
        self.seconds, self.count = 0.0, 0
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                self.done = dict(zip(z["index"].tolist(), z["features"], strict=True))

    def __call__(self, indices: np.ndarray) -> torch.Tensor:
        todo = sorted(set(indices.tolist()) - self.done.keys())
        saved = time.monotonic()
        for i in range(0, len(todo), 200):
            block = todo[i : i + 200]
            t0 = time.monotonic()
            feats = self.ext(torch.from_numpy(self.images[block])).features.numpy()
            self.seconds += time.monotonic() - t0
            self.count += len(block)
            self.done.update(zip(block, feats, strict=True))
            last = i + 200 >= len(todo)
            if last or time.monotonic() - saved > 300:  # a long run can be resumed
                self._save()
                saved = time.monotonic()
            print(f"  {self.path.stem}: {len(self.done)} images ({self.rate()})", flush=True)
        return torch.from_numpy(np.stack([self.done[i] for i in indices.tolist()]))

    def rate(self) -> str:
        return f"{self.count / self.seconds:.2f} images/s" if self.seconds else "cached"

    def _save(self) -> None:
        keys = sorted(self.done)
        buf = io.BytesIO()
        np.savez(buf, index=np.array(keys), features=np.stack([self.done[k] for k in keys]))
        atomic_write(self.path, lambda f: f.write(buf.getvalue()))


def metrics(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    return compute(METRICS, Features(a), Reference.of(Features(b)))


def row(name: str, a: torch.Tensor, b: torch.Tensor, **extra) -> dict:
    return {"name": name, "n_a": len(a), "n_b": len(b), **extra, **metrics(a, b)}


def mixed(pool: np.ndarray, lossless: np.ndarray, share: float, rng) -> Callable:
    """A function n -> n indices of `pool` of which round(n * share) are lossless images;
    the set for a smaller n is part of the set for a larger one (one order for all n)."""
    good = rng.permutation(pool[lossless[pool]])
    jpeg = rng.permutation(pool[~lossless[pool]])

    def first(n: int) -> np.ndarray:
        k = round(n * share)
        return np.sort(np.concatenate([good[:k], jpeg[: n - k]]))

    return first


def halves(pool: np.ndarray, lossless: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of n from `pool`, each with half of its lossless and of its JPEG
    images (so with the same lossless share)."""
    a, b = [], []
    for group in (pool[lossless[pool]], pool[~lossless[pool]]):
        g = rng.permutation(group)
        k = round(n * len(group) / len(pool))
        a.append(g[:k])
        b.append(g[k : 2 * k])
    return np.concatenate(a)[:n], np.concatenate(b)[:n]


def spread(values: list[dict], key: str) -> str:
    v = np.array([x[key] for x in values])
    return f"{v.mean():.4g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v[0]:.4g}"


def sanity(args: Args, ext: Extractor) -> list[dict]:
    with np.load(CIFAR, allow_pickle=False) as z:
        images = np.ascontiguousarray(z["x_train"].transpose(0, 3, 1, 2))
        labels, lossless = z["y_train"], z["train_lossless"]
    with np.load(MNIST, allow_pickle=False) as z:
        digits = z["x_test"][:, None]
    cifar = FeatureStore("cifar10_train20k", images, hashlib.sha256(images).hexdigest(), ext)
    mnist = FeatureStore("mnist_test", digits, hashlib.sha256(digits).hexdigest(), ext)
    share, n, rng = float(lossless.mean()), args.n, np.random.default_rng(args.seed)
    everything = np.arange(len(images))
    pools = [mixed(everything, lossless, share, rng)]
    pools += [mixed(everything[labels == c], lossless, share, rng) for c in (CAT, DOG)]
    for size in (n // 4, n // 2, n):  # smaller N first: an interrupted run serves a smaller --n
        f_pool, f_cats, f_dogs = (
            cifar(pools[0](2 * size)),
            cifar(pools[1](size)),
            cifar(pools[2](size)),
        )
        f_mnist = mnist(np.arange(size))
    pool = pools[0](2 * n)
    where = {int(i): k for k, i in enumerate(pool)}

    def pick(idx: np.ndarray) -> torch.Tensor:
        return f_pool[[where[int(i)] for i in idx]]

    rows = []
    for size in sorted({n // 4, n // 2, n}):
        runs = [metrics(*map(pick, halves(pool, lossless, size, rng))) for _ in range(args.splits)]
        rows.append(
            {
                "name": f"CIFAR half vs half ({args.splits} splits)",
                "n_a": size,
                "n_b": size,
                "fid": spread(runs, "fid"),
                "kid_mean": spread(runs, "kid_mean"),
                "runs": runs,
            }
        )
    a, _ = halves(pool, lossless, n, np.random.default_rng(args.seed))
    rows.append(row("CIFAR cats vs dogs", f_cats, f_dogs))
    rows.append(row("MNIST test vs CIFAR (half)", f_mnist, pick(a)))
    good, jpeg = pool[lossless[pool]], pool[~lossless[pool]]
    m = min(len(good), len(jpeg))
    rows.append(row("CIFAR lossless vs JPEG-decoded", pick(good[:m]), pick(jpeg[:m])))
    control = [metrics(*map(pick, halves(pool, lossless, m, rng))) for _ in range(args.splits)]
    rows.append(
        {
            "name": f"  control: mixed halves at the same N ({args.splits} splits)",
            "n_a": m,
            "n_b": m,
            "fid": spread(control, "fid"),
            "kid_mean": spread(control, "kid_mean"),
            "runs": control,
        }
    )
    for store in (cifar, mnist):
        print(f"{store.path.stem}: {store.rate()}")
    return rows


def pair(args: Args, ext: Extractor) -> list[dict]:
    sides = []
    for source, split in ((args.a, args.split_a), (args.b, args.split_b)):
        data = resolve_data(source, args.size, None, None, CACHE, progress=False, split=split)
        store = FeatureStore(Path(source).name, data.images, data_hash(data), ext)
        sides.append(store(subset(data, args.n or None)))
    return [row(f"{args.a} vs {args.b}", *sides, size=args.size)]


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    ext = get_extractor("inception")
    rows = pair(args, ext) if args.a and args.b else sanity(args, ext)
    header = ["set", "N a", "N b", "FID", "KID"]
    cells = []
    for r in rows:
        kid = r["kid_mean"] if isinstance(r["kid_mean"], str) else f"{r['kid_mean']:.4f}"
        fid = r["fid"] if isinstance(r["fid"], str) else f"{r['fid']:.2f}"
        cells.append([r["name"], r["n_a"], r["n_b"], fid, kid])
    print_table(header, cells)
    record = {
        "extractor": ext.name,
        "preprocessing": "NVIDIA bilinear to 299, input x / 128 - 1 (StyleGAN2-ADA)",
        "rows": rows,
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(f"results: {write_results(args.out, record)}")


if __name__ == "__main__":
    main()
