"""`dedup`: near-duplicate removal by a learned semantic hash (paper §4.1.1).

Images are centre-cropped and downsampled to 32x32 once (`prepare`, streamed to disk), a
3072-128-3072 de-noising, dropout-regularised ReLU autoencoder is trained on them, and its
128 code units, thresholded, are each image's hash. Equal hashes form a group; with a radius
r > 0, codes within Hamming distance r are joined by multi-index hashing (split the code in
r + 1 chunks: two codes within r agree exactly on at least one chunk, so only codes sharing
a chunk are compared). The first image of a group, in source order, is kept.

RAM holds 16 bytes per image (its hash) plus one batch; the thumbnails and names live on
disk, so millions of images are bounded by disk, not memory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn

from dcgan.config import DedupConfig
from dcgan.data.prepare import IMAGES, prepare
from dcgan.data.sources import Item, Source, open_source
from dcgan.errors import DcganError
from dcgan.io import atomic_write, atomic_write_text
from dcgan.sampling import grid_image, save_png

SIDE = 32
PIXELS = 3 * SIDE * SIDE
MODEL, GROUPS_JSON, GROUPS_CSV, SHEET = "hash_model.pt", "groups.json", "groups.csv", "sheet.png"
HASHES, NAMES, CLEAN = "hashes.npy", "names.txt", "clean"
HASH_BATCH = 4096


class HashAutoencoder(nn.Module):
    """3072 -> `bits` ReLU code -> 3072 sigmoid pixels; the code, thresholded, is the hash."""

    def __init__(self, bits: int = 128, dropout: float = 0.2, threshold: float = 0.0) -> None:
        super().__init__()
        self.encoder = nn.Linear(PIXELS, bits)
        self.decoder = nn.Linear(bits, PIXELS)
        self.dropout = nn.Dropout(dropout)
        self.threshold = threshold
        self.register_buffer("mean", torch.full((PIXELS,), 0.5))  # the training images' mean

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(x - self.mean))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.dropout(self.code(x))))

    @torch.no_grad()
    def hash(self, images: np.ndarray) -> np.ndarray:
        """uint8 N x 3 x 32 x 32 -> packed hashes, uint8 N x bits/8."""
        bits = (self.code(_flat(images)) > self.threshold).numpy()
        return np.packbits(bits, axis=1)


def _flat(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images).reshape(len(images), PIXELS)).float() / 255


def train_hash(images: np.ndarray, config: DedupConfig) -> HashAutoencoder:
    """Train the autoencoder on (at most `train_limit`, evenly spaced) uint8 thumbnails."""
    torch.manual_seed(config.seed)
    model = HashAutoencoder(config.bits, config.dropout, config.threshold)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(images)
    picked = np.unique(np.linspace(0, n - 1, min(n, config.train_limit)).astype(np.int64))
    rng = np.random.default_rng(config.seed)
    with torch.no_grad():
        model.mean.copy_(
            sum(_flat(images[i : i + HASH_BATCH]).sum(0) for i in range(0, n, HASH_BATCH)) / n
        )
    model.train()
    for _ in range(config.epochs):
        order = rng.permutation(picked)
        for start in range(0, len(order), config.batch_size):
            x = _flat(images[np.sort(order[start : start + config.batch_size])])
            noisy = x + config.noise * torch.randn_like(x)  # de-noising: clean target
            loss = nn.functional.mse_loss(model(noisy), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def save_model(model: HashAutoencoder, path: str | Path) -> Path:
    state = {"state": model.state_dict(), "bits": model.encoder.out_features}
    state["threshold"] = model.threshold
    return atomic_write(path, lambda f: torch.save(state, f))


def load_model(path: str | Path) -> HashAutoencoder:
    """A saved hash model: the file, or a dedup output folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = HashAutoencoder(state["bits"], threshold=state["threshold"])
        model.load_state_dict(state["state"])
    except FileNotFoundError:
        raise DcganError(f"hash model not found: {path}") from None
    except Exception as e:  # torch raises many types for a file that is not a hash model
        raise DcganError(f"{path}: not a dedup hash model ({type(e).__name__})") from None
    return model.eval()


def hash_images(model: HashAutoencoder, images: np.ndarray) -> np.ndarray:
    """Hashes of many thumbnails (a memory map is read batch by batch)."""
    parts = [model.hash(images[i : i + HASH_BATCH]) for i in range(0, len(images), HASH_BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, model.encoder.out_features // 8))


def _exact_labels(keys: np.ndarray) -> np.ndarray:
    """Group label per row: rows with equal bytes share one."""
    keys = np.ascontiguousarray(keys)
    void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    return np.unique(void, return_inverse=True)[1].ravel()


def _near_pairs(codes: np.ndarray, members: np.ndarray, radius: int) -> Iterator[np.ndarray]:
    """Pairs (i, j), i < j, among `members` whose codes lie within `radius` bits."""
    block = max(1, 2**22 // max(1, len(members) * codes.shape[1]))
    for start in range(0, len(members), block):
        rows = members[start : start + block]
        dist = np.bitwise_count(codes[rows][:, None, :] ^ codes[members][None]).sum(-1)
        i, j = np.nonzero(dist <= radius)
        keep = rows[i] < members[j]
        yield np.stack([rows[i][keep], members[j][keep]], axis=1)


def group_labels(codes: np.ndarray, radius: int = 0) -> np.ndarray:
    """A group label per packed code: equal codes (radius 0) or, transitively, codes within
    `radius` bits of each other (multi-index hashing over radius + 1 chunks)."""
    if radius == 0 or len(codes) < 2:
        return _exact_labels(codes)
    bits = np.unpackbits(codes, axis=1)
    pairs = []
    for chunk in np.array_split(np.arange(bits.shape[1]), radius + 1):
        labels = _exact_labels(np.packbits(bits[:, chunk], axis=1))
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        for members in np.split(order, bounds):
            if len(members) > 1:
                pairs += list(_near_pairs(codes, members, radius))
    n = len(codes)
    edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def duplicate_groups(labels: np.ndarray) -> list[np.ndarray]:
    """Indices of each group of two or more, in source order, ordered by first member."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [g for g in np.split(order, bounds) if len(g) > 1]
    return sorted(groups, key=lambda g: int(g[0]))


@dataclass
class DedupResult:
    """What `dedup` found and wrote, with its timings (seconds)."""

    out: Path
    count: int
    groups: list[list[int]]
    removed: int
    thumbs_s: float
    train_s: float
    hash_s: float
    clean: Path | None = None


def _read_lines(path: Path, wanted: set[int]) -> dict[int, str]:
    with open(path, encoding="utf-8") as f:
        return {i: json.loads(line) for i, line in enumerate(f) if i in wanted}


def _write_groups(
    out: Path, groups: list[np.ndarray], names: dict[int, str], codes, first_new: int
) -> None:
    """groups.json and groups.csv; indices below `first_new` are an earlier index's."""
    rows = [
        {
            "group": g,
            "hash": codes[idx[0]].tobytes().hex(),
            "keep": {"index": int(idx[0]), "name": names[int(idx[0])]},
            "duplicates": [{"index": int(i), "name": names[int(i)]} for i in idx[1:]],
        }
        for g, idx in enumerate(groups)
    ]
    removed = sum(int((g[1:] >= first_new).sum()) for g in groups)
    summary = {"groups": len(groups), "removed": removed, "indexed_before": first_new}
    atomic_write_text(out / GROUPS_JSON, json.dumps({**summary, "items": rows}, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["group", "index", "name", "kept", "hash"])
    for row in rows:
        for m, kept in [(row["keep"], 1)] + [(d, 0) for d in row["duplicates"]]:
            writer.writerow([row["group"], m["index"], m["name"], kept, row["hash"]])
    atomic_write_text(out / GROUPS_CSV, buf.getvalue())


def contact_sheet(images: np.ndarray, groups: list[np.ndarray], path: Path, width: int = 8):
    """One row per group (its first `width` members, the kept one first) on white."""
    blank = np.full((3, SIDE, SIDE), 255, np.uint8)
    rows = [[images[i] for i in g[:width]] for g in groups] or [[blank]]
    tiles = np.stack([t for row in rows for t in row + [blank] * (width - len(row))])
    tensor = torch.from_numpy(tiles).float() / 127.5 - 1
    return save_png(grid_image(tensor, nrow=width if groups else 1), path)


def dedup(
    source: str | Path | Source,
    out: str | Path,
    config: DedupConfig | None = None,
    *,
    model: str | Path | None = None,
    clean_size: int | None = None,
    format: str | None = None,
    key: str | None = None,
    split: str = "train",
    workers: int | None = None,
    progress: bool = False,
) -> DedupResult:
    """Find near-duplicate groups in `source` and write them to the folder `out`: groups.json
    and groups.csv (which image of each group is kept), sheet.png (the first groups), the
    hash model (hash_model.pt, reusable with `model=`), every hash (hashes.npy, names.txt),
    and with `clean_size` a packed dataset `out/clean` at that size without the duplicates.

    `model` is a saved hash model file, or an earlier dedup output folder: then the new
    images are also checked against its index (its hashes come first, so an indexed image
    is kept over a new copy; only groups with new images are listed, and `out` holds the
    grown index).
    """
    config = config or DedupConfig()
    if not isinstance(source, Source):
        source = open_source(source, format, key=key, split=split)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DcganError(f"{out} exists and is not a folder: choose another output")
    hash_model = load_model(model) if model is not None else None
    index = Path(model) if model is not None and (Path(model) / HASHES).is_file() else None
    old = np.load(index / HASHES) if index else np.zeros((0, config.bits // 8), np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".dedup.", dir=out))
    try:
        t0 = time.perf_counter()
        if index:
            shutil.copyfile(index / NAMES, work / NAMES)
        with open(work / NAMES, "a", encoding="utf-8") as names_file:
            thumbs = prepare(
                source,
                work / "thumbs",
                SIDE,
                3,
                workers=workers,
                progress=progress,
                on_written=lambda item: names_file.write(json.dumps(item.name) + "\n"),
            )
        images = np.load(thumbs / IMAGES, mmap_mode="r")
        t1 = time.perf_counter()
        if hash_model is None:
            hash_model = train_hash(images, config)
        save_model(hash_model, out / MODEL)
        t2 = time.perf_counter()
        k = len(old)
        codes = np.concatenate([old, hash_images(hash_model, images)])
        groups = duplicate_groups(group_labels(codes, config.radius))
        groups = [g for g in groups if g[-1] >= k]  # only groups with a new image
        t3 = time.perf_counter()
        wanted = {int(i) for g in groups for i in g}
        _write_groups(out, groups, _read_lines(work / NAMES, wanted), codes, k)
        shown = [g[g >= k] - k for g in groups[: config.sheet_groups]]  # new images only
        contact_sheet(images, shown, out / SHEET)
        atomic_write(out / HASHES, lambda f: np.save(f, codes))
        shutil.copyfile(work / NAMES, out / NAMES)
        clean = None
        if clean_size is not None:
            dropped = set(
                _read_lines(work / NAMES, {int(i) for g in groups for i in g[1:]}).values()
            )
            clean = _clean(source, out / CLEAN, clean_size, dropped, workers, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    removed = sum(int((g[1:] >= k).sum()) for g in groups)
    listed = [[int(i) for i in g] for g in groups]
    return DedupResult(out, len(codes) - k, listed, removed, t1 - t0, t2 - t1, t3 - t2, clean)


def _clean(
    source: Source, out: Path, size: int, dropped: set[str], workers: int | None, progress: bool
) -> Path:
    """`source` without the dropped names, packed like `prepare` at `size`."""

    def items() -> Iterator[Item]:
        return (item for item in source if item.name not in dropped)

    length = source.length - len(dropped) if source.length else None
    kept = dataclasses.replace(source, items=items, length=length)
    return prepare(kept, out, size, workers=workers, progress=progress)
