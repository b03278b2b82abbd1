"""Measured quality of `dcgan dedup`'s hashes on real CelebA, against imagehash's pHash.

Plants near-duplicates among the 5,999 aligned CelebA JPEGs of shared/data: eight kinds
(JPEG re-encode at quality 30-60, a 1-3 px shift-crop, +-10 % brightness, a 90-110 %
resize, +-5 % colour gains, and the combinations JPEG+shift, resize+brightness and all
five), PER_KIND copies of distinct originals per kind from the first TRAIN originals (the
images the hashes are trained on, "seen") and as many from the others ("unseen"). Each
learned hash (`paper`, `invariant`) is trained on the first TRAIN thumbnails only, then
every image is hashed and grouped at Hamming radius 0..max; pHash (64 bits) is grouped the
same way. Per method and radius: recall of the planted pairs (per kind, seen / unseen),
precision of all flagged pairs (planted only, and counting CelebA's own duplicates as true:
one photo of a person under two numbers, see `photo_ids`), and the false-positive rate
(FPR): the share of originals put in a group with an image of another photo; also with an
image of another person (a lower bound: certain errors) and with any other original (an
upper bound: CelebA's own duplicates counted as errors).
Writes bench/results/dedup_celeba.json.

    python bench/dedup_celeba.py [--epochs 20]
"""

from __future__ import annotations

import io
import resource
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import SHARED, parse_args, results_path, write_results
from PIL import Image, ImageEnhance
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dcgan.data.prepare import prepare
from dcgan.experiments.dedup import contact_sheet, duplicate_groups, group_labels
from dcgan.experiments.dedup_hash import RADIUS, hash_images, train_hash
from dcgan.options import opt
from dcgan.options_data import DedupConfig

KINDS = {
    "jpeg": ("jpeg",),
    "shift": ("shift",),
    "brightness": ("brightness",),
    "resize": ("resize",),
    "colour": ("colour",),
    "jpeg+shift": ("jpeg", "shift"),
    "resize+brightness": ("resize", "brightness"),
    "all": ("shift", "resize", "brightness", "colour", "jpeg"),
}
PER_KIND = 40  # per kind and per half (seen / unseen)
TRAIN = 3000
SAME_PHOTO = 0.15  # CelebA duplicates: see photo_ids


def perturb(data: bytes, ops: tuple[str, ...], rng: np.random.Generator) -> bytes:
    """A near-duplicate of one encoded image, saved as JPEG (quality 30-60 with `jpeg`)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    quality = 95
    for op in ops:
        w, h = img.size
        if op == "jpeg":
            quality = int(rng.integers(30, 61))
        elif op == "shift":
            dx, dy = (int(v) for v in rng.integers(1, 4, size=2) * rng.choice([-1, 1], size=2))
            img = img.crop((max(dx, 0), max(dy, 0), w + min(dx, 0), h + min(dy, 0)))
        elif op == "brightness":
            img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.9, 1.1)))
        elif op == "resize":
            f = float(rng.uniform(0.9, 1.1))
            img = img.resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC)
        else:  # colour: a gain per channel
            gains = rng.uniform(0.95, 1.05, size=3)
            bands = [
                b.point(lambda v, g=g: min(255, round(v * g)))
                for b, g in zip(img.split(), gains, strict=True)
            ]
            img = Image.merge("RGB", bands)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def plant(tar: Path, out: Path, seed: int = 0) -> tuple[list[tuple[int, int, str]], int]:
    """Copy `tar` into `out` with the planted near-duplicates appended; return the planted
    (original index, copy index, kind) triples and the number of originals."""
    rng = np.random.default_rng(seed)
    with tarfile.open(tar) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        datas = [tf.extractfile(m).read() for m in members]
    n = len(datas)
    count = PER_KIND * len(KINDS)
    seen = rng.choice(TRAIN, count, replace=False)
    unseen = TRAIN + rng.choice(n - TRAIN, count, replace=False)
    pairs = []
    with tarfile.open(out, "w") as tf:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        for m, data in zip(members, datas, strict=True):
            add(m.name, data)
        for k, i in enumerate(np.concatenate([seen, unseen])):
            kind = list(KINDS)[k % len(KINDS)]
            add(f"planted/{k:04d}_{kind}.jpg", perturb(datas[i], KINDS[kind], rng))
            pairs.append((int(i), n + k, kind))
    return pairs, n


def person_ids(tar: Path) -> np.ndarray:
    """The CelebA identity of each image of `tar` (identity_CelebA.txt)."""
    ids = dict(line.split() for line in (SHARED / "identity_CelebA.txt").read_text().splitlines())
    with tarfile.open(tar) as tf:
        return np.array([int(ids[m.name.split("/")[-1]]) for m in tf.getmembers() if m.isfile()])


def photo_ids(thumbs: np.ndarray, person: np.ndarray, tol: float = SAME_PHOTO) -> np.ndarray:
    """A label per original; CelebA's own duplicates share one: the same person whose 32 px
    thumbnails, each channel standardised (so re-lit or re-coloured copies match), differ
    by under `tol` standard deviations on average, joined transitively."""
    n = len(person)
    x = thumbs[:n].astype(np.float32).reshape(n, 3, -1)
    x = ((x - x.mean(2, keepdims=True)) / (x.std(2, keepdims=True) + 1)).reshape(n, -1)
    edges = []
    for p in np.unique(person):
        m = np.flatnonzero(person == p)
        d = np.abs(x[m][:, None] - x[m][None]).mean(-1)
        i, j = np.nonzero(np.triu(d < tol, 1))
        edges += list(zip(m[i], m[j], strict=True))
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _pairs_within(labels: np.ndarray, *keys: np.ndarray) -> int:
    """Pairs of rows equal in `labels` and in every key."""
    combo = np.unique(np.stack([labels, *keys], axis=1), axis=0, return_counts=True)[1]
    return int((combo * (combo - 1) // 2).sum())


def score(labels: np.ndarray, pairs: list, photo: np.ndarray, person: np.ndarray) -> dict:
    """Recall (all, per kind, seen / unseen), precision, false-positive rates. `photo` and
    `person` label the originals; a planted copy takes its original's."""
    n = len(photo)
    source = np.arange(len(labels))
    source[[c for _, c, _ in pairs]] = [i for i, _, _ in pairs]
    photo, person = photo[source], person[source]
    flagged = _pairs_within(labels)
    found = np.array([labels[i] == labels[j] for i, j, _ in pairs])
    kinds = np.array([k for _, _, k in pairs])
    seen = np.array([i < TRAIN for i, _, _ in pairs])
    true = int(found.sum())
    same_photo = _pairs_within(labels, photo)

    def false_share(key: np.ndarray) -> float:
        """Share of originals in a group with an image of another `key` value."""
        per_group = np.unique(np.stack([labels, key], axis=1), axis=0)[:, 0]
        mixed = np.bincount(per_group, minlength=labels.max() + 1) > 1
        return float(mixed[labels[:n]].mean())

    return {
        "recall": float(found.mean()),
        "recall_by_kind": {k: float(found[kinds == k].mean()) for k in KINDS},
        "recall_seen": float(found[seen].mean()),
        "recall_unseen": float(found[~seen].mean()),
        "min_kind_recall": float(min(found[kinds == k].mean() for k in KINDS)),
        "precision": true / flagged if flagged else None,
        "precision_counting_celeba_duplicates": same_photo / flagged if flagged else None,
        "flagged_pairs": flagged,
        "false_positive_rate": false_share(photo),
        "false_positive_rate_other_person": false_share(person),
        "false_positive_rate_any_original": false_share(source),
    }


def write_sheet(images: np.ndarray, labels: np.ndarray, n: int, path: Path, rows: int = 12):
    """A contact sheet of found groups: the first `rows` groups of two or more originals
    (CelebA's own duplicates), then `rows` groups holding a planted copy of the `all` kind
    (the last planted are spread over the kinds; the kept image first)."""
    groups = duplicate_groups(labels)
    own = [g for g in groups if (g < n).sum() > 1][:rows]
    planted = [g for g in groups if g[-1] >= n and (g[-1] - n) % len(KINDS) == len(KINDS) - 1]
    return contact_sheet(images, own + planted[:rows], path, width=4)


def phash_codes(tar: Path) -> np.ndarray:
    import imagehash

    with tarfile.open(tar) as tf:
        hashes = [
            imagehash.phash(Image.open(tf.extractfile(m))).hash.ravel()
            for m in tf.getmembers()
            if m.isfile()
        ]
    return np.packbits(np.array(hashes), axis=1)


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    epochs: int = opt(DedupConfig.epochs)
    max_radius: int = opt(10)
    methods: str = opt("paper,invariant,phash")
    out: str = opt(str(results_path("dedup_celeba")))
    sheet: str | None = opt(None, "also write a contact sheet of the default's groups")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    tar = SHARED / "celeba_aligned_00.tar"
    if not tar.is_file():
        sys.exit(f"{tar} is absent")
    methods = args.methods.split(",")
    codes, timing = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        planted = Path(tmp, "planted.tar")
        pairs, n = plant(tar, planted)
        t0 = time.perf_counter()
        thumbs = prepare(planted, Path(tmp, "thumbs"), 32, 3, workers=1, progress=False)
        images = np.load(thumbs / "images.npy")
        timing["thumbnails_32px"] = time.perf_counter() - t0
        person = person_ids(tar)
        photo = photo_ids(images, person)
        for hash_kind in ("paper", "invariant"):
            if hash_kind not in methods:
                continue
            t0 = time.perf_counter()
            model = train_hash(images[:TRAIN], DedupConfig(hash=hash_kind, epochs=args.epochs))
            t1 = time.perf_counter()
            codes[hash_kind] = hash_images(model, images)
            timing[f"{hash_kind}_train_{TRAIN}"] = t1 - t0
            timing[f"{hash_kind}_hash_all"] = time.perf_counter() - t1
        if "phash" in methods:
            t0 = time.perf_counter()
            codes["phash"] = phash_codes(planted)
            timing["phash_all"] = time.perf_counter() - t0
    rows = {
        m: {r: score(group_labels(c, r), pairs, photo, person) for r in range(args.max_radius + 1)}
        for m, c in codes.items()
    }
    if args.sheet and "invariant" in codes:
        default = group_labels(codes["invariant"], RADIUS["invariant"])
        write_sheet(images, default, n, Path(args.sheet))
    best = {}  # per method: the radius of highest recall with FPR < 1 %
    for m, by_r in rows.items():
        ok = [r for r, s in by_r.items() if s["false_positive_rate"] < 0.01]
        best[m] = max(ok, key=lambda r: by_r[r]["recall"]) if ok else None
    report = {
        "images": len(images),
        "originals": n,
        "planted": len(pairs),
        "planted_per_kind": 2 * PER_KIND,
        "trained_on_first": TRAIN,
        "celeba_duplicate_pairs": _pairs_within(np.zeros(n, np.int64), photo),
        "same_photo_tolerance": SAME_PHOTO,
        "epochs": args.epochs,
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": 1,
        "best_radius_fpr_below_1pct": best,
        "results": rows,
    }
    print(
        f"{len(images)} images ({len(pairs)} planted),"
        f" {report['celeba_duplicate_pairs']} pairs of CelebA's own duplicates"
    )
    print(
        f"{'method':9} {'r':>2} {'recall':>6} {'seen':>5} {'unseen':>6} {'minkind':>7}"
        f" {'prec':>5} {'prec+dup':>8} {'FPR':>6} {'FPRpers':>7} {'FPRany':>6}"
    )
    for m, by_r in rows.items():
        for r, s in by_r.items():
            print(
                f"{m:9} {r:>2} {s['recall']:6.3f} {s['recall_seen']:5.3f} {s['recall_unseen']:6.3f}"
                f" {s['min_kind_recall']:7.3f} {fmt(s['precision']):>5}"
                f" {fmt(s['precision_counting_celeba_duplicates']):>7}"
                f" {s['false_positive_rate']:6.4f} {s['false_positive_rate_other_person']:6.4f}"
                f" {s['false_positive_rate_any_original']:6.4f}"
            )
    print("recall per kind at each method's best radius with FPR < 1 %:")
    print(f"{'kind':18} " + " ".join(f"{m}@{best[m]}".rjust(12) for m in rows))
    for k in KINDS:
        cells = [
            rows[m][best[m]]["recall_by_kind"][k] if best[m] is not None else None for m in rows
        ]
        print(f"{k:18} " + " ".join(fmt(c).rjust(12) for c in cells))
    write_results(Path(args.out), report)


if __name__ == "__main__":
    main()
