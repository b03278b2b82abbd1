"""Robustness of `dcgan dedup`'s hashes to web copies, with held-out kinds of copy.

Originals: the 5,999 aligned CelebA JPEGs and the 20,000 shared CIFAR-10 images, all
distinct (CelebA's own duplicates, one photo under two numbers, are set apart as in
bench/dedup_celeba.py). Each set is split in two: DEV originals (the first 3,000 CelebA,
the first 10,000 CIFAR) and HELD-OUT originals (the rest).

Kinds of copy, made from the full-size CelebA JPEG with PIL:
- SEEN kinds: the transformations the robust hash is trained against, and the only kinds
  used to choose a threshold;
- HELD-OUT kinds: used for nothing but the report (not in training, not in any choice).

PER_KIND copies per kind are planted from dev originals (seen kinds only: they choose the
thresholds) and PER_KIND per kind from held-out originals (every kind: the report). The
learned hashes train on the dev CelebA thumbnails and the first TRAIN_CIFAR CIFAR images.

A pair is found when its two hashes lie within the threshold (pairwise; `dcgan dedup` also
joins groups transitively, which can only find more). A false positive is a pair of
distinct originals within the threshold. Operating points: pHash at each radius of
--phash-radii; at each, every other method takes its threshold (for `a|b`, the two radii
of an OR of the two tests) of highest dev recall (seen kinds) with no more false pairs
among dev originals than pHash has there. The report gives, at those thresholds, recall
per kind on held-out originals and false pairs on all 25,999 originals, and each single
method's false pairs and dev recall at every radius. `phash-views` is pHash of the image
with flat borders trimmed, compared with that and its mirror (dedup_views.view_codes and
dedup_groups.view_distance, the functions of `dcgan dedup --hash combined`).

`combined` is `dcgan dedup --hash combined` at its default radii (dedup_hash.RADIUS and
DedupConfig.views_radius): `robust` OR `phash-views`. Its learned half is the robust hash
(the same training gives the same codes). It is reported pairwise at the radii fixed in the
library, with a check that they are the radii chosen on dev at pHash r=4, and as the verb
groups the images (dedup_groups.combined_labels, transitive). Writes
bench/results/dedup_robust.json.

    python bench/dedup_robust.py --methods robust,phash,phash-views \
        --sheet docs/dedup_robust_pairs.png
"""

from __future__ import annotations

import io
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from dedup_celeba import person_ids, photo_ids
from dedup_copies import HELD_OUT, SEEN, web_copy_of
from harness import SHARED, parse_args, results_path, write_results
from PIL import Image

from dcgan.data.prepare import prepare
from dcgan.experiments.dedup import contact_sheet
from dcgan.experiments.dedup_groups import combined_labels, duplicate_groups, view_distance
from dcgan.experiments.dedup_hash import RADIUS, hash_images, train_hash
from dcgan.experiments.dedup_views import view_codes
from dcgan.options import opt
from dcgan.options_data import DedupConfig

DEV_CELEBA, DEV_CIFAR, TRAIN_CIFAR = 3000, 10000, 3000
PER_KIND = 40
CAP = 40  # radii above this are never useful; distances are capped here


def plant(datas: list[bytes], rng: np.random.Generator) -> list[tuple[int, str, bytes]]:
    """(original index, kind, JPEG bytes) of every planted copy."""
    n = len(datas)
    out = []
    for kind in list(SEEN) + list(HELD_OUT):
        sources = [] if kind in HELD_OUT else list(rng.choice(DEV_CELEBA, PER_KIND, False))
        sources += list(DEV_CELEBA + rng.choice(n - DEV_CELEBA, PER_KIND, False))
        for i in sources:
            img = Image.open(io.BytesIO(datas[i])).convert("RGB")
            out.append((int(i), kind, web_copy_of(img, kind, rng)))
    return out


def phash_codes(images: list[Image.Image]) -> np.ndarray:
    """imagehash's pHash per image, N x 1 x 8 bytes (the baseline, independent of dcgan)."""
    import imagehash

    return np.packbits(np.array([[imagehash.phash(im).hash.ravel()] for im in images]), axis=2)


def words(codes: np.ndarray) -> np.ndarray:
    """Packed codes (N x views x bytes) as uint64 words, zero-padded, for fast distances."""
    pad = (-codes.shape[-1]) % 8
    padded = np.pad(codes, ((0, 0), (0, 0), (0, pad)))
    return np.ascontiguousarray(padded).view(np.uint64)


hamming = view_distance  # from view 0 of each `a` to the nearest view of each `b`


def original_histograms(codes: dict, dev: np.ndarray, same: np.ndarray, block: int = 128):
    """Joint histograms of capped distances over all pairs of originals, for every two
    methods: {(a, b): (dev-only counts, all counts)}, each (CAP+1) x (CAP+1); pairs of one
    photo (`same`, index pairs) are left out."""
    names = list(codes)
    w = {m: words(c) for m, c in codes.items()}
    n = len(dev)
    size = (CAP + 1) ** 2
    hist = {
        (a, b): [np.zeros(size, np.int64), np.zeros(size, np.int64)]
        for a in names
        for b in names
        if a <= b
    }
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        cols = np.arange(start + 1, n)
        upper = cols[None] > rows[:, None]
        both_dev = upper & dev[rows][:, None] & dev[cols][None]
        d = {m: np.minimum(hamming(w[m][rows][:, None], w[m][cols][None]), CAP) for m in names}
        for (a, b), (h_dev, h_all) in hist.items():
            idx = d[a] * (CAP + 1) + d[b]
            h_all += np.bincount(idx[upper], minlength=size)
            h_dev += np.bincount(idx[both_dev], minlength=size)
    for i, j in same:  # one photo under two numbers: not a false pair
        d = {m: min(int(hamming(w[m][i], w[m][j])), CAP) for m in names}
        for (a, b), (h_dev, h_all) in hist.items():
            h_all[d[a] * (CAP + 1) + d[b]] -= 1
            h_dev[d[a] * (CAP + 1) + d[b]] -= int(dev[i] and dev[j])
    return {
        k: (h[0].reshape(CAP + 1, CAP + 1), h[1].reshape(CAP + 1, CAP + 1)) for k, h in hist.items()
    }


def false_pairs(hist: np.ndarray, ra: int, rb: int) -> int:
    """Pairs within `ra` on the first test OR within `rb` on the second (-1: test off)."""
    a = hist[: ra + 1].sum() if ra >= 0 else 0
    b = hist[:, : rb + 1].sum() if rb >= 0 else 0
    both = hist[: ra + 1, : rb + 1].sum() if ra >= 0 and rb >= 0 else 0
    return int(a + b - both)


def choose(dist, hist, on_dev, a: str, b: str | None, limit: int) -> tuple[int, int]:
    """The threshold(s) of highest dev recall (seen kinds) with at most `limit` false pairs
    among dev originals (ties: the smaller thresholds)."""
    h_dev = hist[0]
    grid = [(ra, rb) for ra in range(CAP + 1) for rb in (range(CAP + 1) if b else [-1])]
    ok = [(ra, rb) for ra, rb in grid if false_pairs(h_dev, ra, rb) <= limit] or [(-1, -1)]

    def recall(t: tuple[int, int]) -> float:
        hit = dist[a] <= t[0]
        return float((hit | (dist[b] <= t[1]) if b else hit)[on_dev].mean())

    return max(ok, key=lambda t: (recall(t), -t[0] - t[1]))


def recall_row(hit: np.ndarray, on_dev: np.ndarray, kinds: np.ndarray) -> dict:
    """Dev recall (seen kinds), and recall per kind on held-out originals with its means
    over seen and over held-out kinds, of found pairs `hit` (one per planted copy)."""
    per_kind = {k: float(hit[~on_dev & (kinds == k)].mean()) for k in [*SEEN, *HELD_OUT]}
    return {
        "dev_recall_seen_kinds": float(hit[on_dev].mean()),
        "recall_by_kind": per_kind,
        "recall_seen_kinds": float(np.mean([per_kind[k] for k in SEEN])),
        "recall_held_out_kinds": float(np.mean([per_kind[k] for k in HELD_OUT])),
    }


def pairwise_row(dist, hist, on_dev, kinds, a: str, b: str, ra: int, rb: int) -> dict:
    """Test `a` within `ra` (OR `b` within `rb`): recall and false pairs, pair by pair."""
    hit = dist[a] <= ra
    hit = hit | (dist[b] <= rb) if b else hit
    return {
        "thresholds": {a: ra, **({b: rb} if b else {})},
        "dev_false_pairs": false_pairs(hist[0], ra, rb),
        "false_pairs_all_originals": false_pairs(hist[1], ra, rb),
        **recall_row(hit, on_dev, kinds),
    }


def pairs_within(*keys: np.ndarray) -> int:
    """Pairs of rows equal in every key."""
    counts = np.unique(np.stack(keys, axis=1), axis=0, return_counts=True)[1]
    return int((counts * (counts - 1) // 2).sum())


def combined_section(codes, dist, hist, points, planted, originals) -> dict:
    """`dcgan dedup --hash combined` at the library's default radii: pair by pair (as the
    table's other rows), the radii chosen on dev at pHash r=4 beside them, and as the verb
    groups all the images (`combined_labels`: transitive, so a copy may also join its
    original through another image, and two originals through a copy)."""
    on_dev, kinds, src, copy_at = planted
    at, dev, photo = originals
    radii = {"robust": RADIUS["combined"], "phash-views": DedupConfig().views_radius}
    row = pairwise_row(dist, hist, on_dev, kinds, "robust", "phash-views", *radii.values())
    chosen = points.get("phash_r4", {}).get("robust|phash-views", {}).get("thresholds")
    labels = combined_labels(codes["robust"][:, 0], codes["phash-views"], *radii.values())
    lab = labels[at]
    grouped = {
        "dev_false_pairs": pairs_within(lab[dev]) - pairs_within(lab[dev], photo[dev]),
        "false_pairs_all_originals": pairs_within(lab) - pairs_within(lab, photo),
        "groups_with_two_or_more": len(duplicate_groups(labels)),
        **recall_row(labels[src] == labels[copy_at], on_dev, kinds),
    }
    return {
        "radii": radii,
        "radii_chosen_on_dev_at_phash_r4": chosen,
        "radii_match_dev_choice": chosen == radii,
        "pairwise": row,
        "grouped_by_verb": grouped,
    }


def print_table(title: str, rows: dict[str, dict]) -> None:
    print(title)
    cols = list(rows)
    print(f"{'kind':24}" + "".join(f"{c:>20}" for c in cols))
    for k in [*SEEN, *HELD_OUT]:
        tag = "seen" if k in SEEN else "held-out"
        cells = "".join(f"{rows[c]['recall_by_kind'][k]:20.3f}" for c in cols)
        print(f"{k[:14] + ' (' + tag + ')':24}" + cells)
    for key in ("recall_seen_kinds", "recall_held_out_kinds", "dev_recall_seen_kinds"):
        print(f"{key:24}" + "".join(f"{rows[c][key]:20.3f}" for c in cols))
    for key in ("dev_false_pairs", "false_pairs_all_originals"):
        print(f"{key:24}" + "".join(f"{rows[c][key]:20d}" for c in cols))
    print("thresholds: " + "; ".join(f"{c} {rows[c].get('thresholds')}" for c in cols))


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    epochs: int = opt(30)
    methods: str = opt("invariant,robust,phash,phash-views", "single hashes")
    combos: str = opt("robust|phash,robust|phash-views", "ORs of two tests")
    phash_radii: str = opt("2,4,6", "operating points: pHash's radius, matched on dev")
    seed: int = opt(0)
    cache: str | None = opt(None, "a folder to keep (and reuse) each method's codes in")
    out: str = opt(str(results_path("dedup_robust")))
    sheet: str | None = opt(None, "also write a sheet of planted pairs, one row per kind")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    tar, npz = SHARED / "celeba_aligned_00.tar", SHARED / "cifar10_train20k.npz"
    if not tar.is_file() or not npz.is_file():
        sys.exit(f"{tar} or {npz} is absent")
    rng = np.random.default_rng(args.seed)
    timing = {}
    with tarfile.open(tar) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        datas = [tf.extractfile(m).read() for m in members]
    n_celeba = len(datas)
    cifar = np.load(npz)["x_train"]
    n_cifar = len(cifar)
    planted = plant(datas, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "planted.tar")
        with tarfile.open(path, "w") as tf:
            blobs = [(m.name, d) for m, d in zip(members, datas, strict=True)]
            blobs += [(f"planted/{k:05d}_{kind}.jpg", b) for k, (_, kind, b) in enumerate(planted)]
            for name, data in blobs:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        t0 = time.perf_counter()
        thumbs = np.load(prepare(path, Path(tmp, "thumbs"), 32, 3, workers=1) / "images.npy")
        timing["thumbnails_32px"] = time.perf_counter() - t0
    # all images: CelebA originals, planted copies, CIFAR originals
    images = np.concatenate([thumbs, cifar.transpose(0, 3, 1, 2)])
    copy_at = n_celeba + np.arange(len(planted))
    cifar_at = n_celeba + len(planted) + np.arange(n_cifar)
    originals = np.concatenate([np.arange(n_celeba), cifar_at])
    dev = np.concatenate([np.arange(n_celeba) < DEV_CELEBA, np.arange(n_cifar) < DEV_CIFAR])
    photo = photo_ids(thumbs, person_ids(tar))
    same = [
        (i, j)
        for p in np.unique(photo)
        for m in [np.flatnonzero(photo == p)]
        for a, i in enumerate(m)
        for j in m[a + 1 :]
    ]
    train = np.concatenate([images[:DEV_CELEBA], images[cifar_at[:TRAIN_CIFAR]]])
    methods = args.methods.split(",")
    cache = Path(args.cache) if args.cache else None
    codes, cached = {}, []
    for m in methods:
        saved = cache / f"{m}_e{args.epochs}_s{args.seed}.npy" if cache else None
        t0 = time.perf_counter()
        if saved and saved.is_file():
            codes[m] = np.load(saved)
            cached.append(m)
            continue
        if m == "phash":
            full = [Image.open(io.BytesIO(d)) for d in datas]
            full += [Image.open(io.BytesIO(b)) for _, _, b in planted]
            full += [Image.fromarray(x) for x in cifar]
            codes[m] = phash_codes(full)
        elif m == "phash-views":
            payloads = [*datas, *[b for _, _, b in planted], *cifar]
            codes[m] = np.stack([view_codes(p) for p in payloads])
        else:
            model = train_hash(train, DedupConfig(hash=m, epochs=args.epochs, seed=args.seed))
            timing[f"{m}_train_{len(train)}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            codes[m] = hash_images(model, images)[:, None]
        timing[f"{m}_hash_{len(images)}"] = time.perf_counter() - t0
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.save(saved, codes[m])
    t0 = time.perf_counter()
    hist = original_histograms({m: c[originals] for m, c in codes.items()}, dev, np.array(same))
    timing["false_pair_histograms"] = time.perf_counter() - t0
    # planted pairs: the distance of each copy to its original, per method
    src = np.array([i for i, _, _ in planted])
    kinds = np.array([k for _, k, _ in planted])
    on_dev = src < DEV_CELEBA
    n_dev = int(dev.sum())
    dist = {m: np.minimum(hamming(words(c)[src], words(c)[copy_at]), CAP) for m, c in codes.items()}

    def hist_of(a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        return hist[(a, b)] if (a, b) in hist else tuple(h.T for h in hist[(b, a)])

    curves = {
        m: {
            "dev_false_pairs": [false_pairs(hist_of(m, m)[0], r, -1) for r in range(CAP + 1)],
            "all_false_pairs": [false_pairs(hist_of(m, m)[1], r, -1) for r in range(CAP + 1)],
            "dev_recall_seen": [float((dist[m] <= r)[on_dev].mean()) for r in range(CAP + 1)],
        }
        for m in codes
    }
    points = {}
    for r_p in [int(r) for r in args.phash_radii.split(",")]:
        limit = false_pairs(hist_of("phash", "phash")[0], r_p, -1)
        rows = {}
        for m in ["phash", *[m for m in codes if m != "phash"], *args.combos.split(",")]:
            a, _, b = m.partition("|")
            if a not in codes or (b and b not in codes):
                continue
            ra, rb = (
                (r_p, -1)
                if m == "phash"
                else choose(dist, hist_of(a, b or a), on_dev, a, b or None, limit)
            )
            rows[m] = pairwise_row(dist, hist_of(a, b or a), on_dev, kinds, a, b, ra, rb)
        points[f"phash_r{r_p}"] = rows
    combined = None
    if "robust" in codes and "phash-views" in codes:
        photo_all = np.concatenate([photo, photo.max() + 1 + np.arange(n_cifar)])
        combined = combined_section(
            codes,
            dist,
            hist_of("robust", "phash-views"),
            points,
            (on_dev, kinds, src, copy_at),
            (originals, dev, photo_all),
        )
    report = {
        "originals": {"celeba": n_celeba, "cifar": n_cifar, "dev": n_dev},
        "celeba_same_photo_pairs": len(same),
        "planted": len(planted),
        "per_kind": PER_KIND,
        "seen_kinds": SEEN,
        "held_out_kinds": HELD_OUT,
        "train_images": len(train),
        "epochs": args.epochs,
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
        "codes_from_cache": cached,
        "threads": 1,
        "operating_points": points,
        "combined": combined,
        "curves": curves,
    }
    print(f"{len(originals)} originals ({n_dev} dev), {len(planted)} planted copies")
    for name, rows in points.items():
        print_table(f"-- at pHash's false pairs on dev with {name}", rows)
    if combined:
        print_table(
            f"-- dcgan dedup --hash combined, radii {combined['radii']} (chosen on dev at"
            f" pHash r=4: {combined['radii_chosen_on_dev_at_phash_r4']})",
            {"pair by pair": combined["pairwise"], "as grouped": combined["grouped_by_verb"]},
        )
    if args.sheet:
        pairs = []
        for k in [*SEEN, *HELD_OUT]:
            at = np.flatnonzero(~on_dev & (kinds == k))[:4]
            pairs.append(np.ravel(np.stack([src[at], copy_at[at]], axis=1)))
        contact_sheet(images, pairs, Path(args.sheet), width=8)
    write_results(Path(args.out), report)


if __name__ == "__main__":
    main()
