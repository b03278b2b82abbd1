"""`dedup`: near-duplicate removal by a learned semantic hash (paper §4.1.1).

Images are centre-cropped and downsampled to 32x32 once (`prepare`, streamed to disk), a
hash model (`dedup_hash`: the paper's de-noising autoencoder, or one trained to be
invariant to near-duplicate or web copies) is trained on them, and its code bits are
each image's hash. Equal hashes form a group; with a radius r > 0, codes within Hamming
distance r are joined (dedup_groups). The `combined` hash also takes a pHash of two views
of each full-size image (dedup_views) as the images stream past, and joins the groups of
both tests. The first image of a group, in source order, is kept.

RAM holds 16 bytes per image (its hash; 16 more for combined's views) plus one batch; the
thumbnails and names live on disk, so millions of images are bounded by disk, not memory.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan.conventions import to_unit_range
from dcgan.data.prepare import IMAGES, prepare
from dcgan.data.sources import Item, Source, open_source
from dcgan.errors import DcganError, first_line
from dcgan.experiments.dedup_groups import combined_labels, duplicate_groups, group_labels
from dcgan.experiments.dedup_hash import (
    HASH_BATCH,
    RADIUS,
    load_model,
    save_model,
    train_hash,
)
from dcgan.experiments.dedup_nets import SIDE
from dcgan.experiments.dedup_views import VIEW_BYTES, VIEWS, view_codes
from dcgan.io import atomic_write, atomic_write_text
from dcgan.options_data import DedupConfig
from dcgan.sampling import grid_image, save_png

MODEL, GROUPS_JSON, GROUPS_CSV, SHEET = "hash_model.pt", "groups.json", "groups.csv", "sheet.png"
HASHES, NAMES, CLEAN, VIEWS_NPY = "hashes.npy", "names.txt", "clean", "views.npy"


def read_batches(path: Path, batch: int = HASH_BATCH) -> Iterator[np.ndarray]:
    """The rows of a .npy file, `batch` at a time, by plain reads: unlike a memory map, the
    pages read do not stay in the process's memory, so RSS does not grow with the file."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if major == 1 else None
        shape, _, dtype = (header or np.lib.format.read_array_header_2_0)(f)
        row = int(np.prod(shape[1:]))
        for start in range(0, shape[0], batch):
            k = min(batch, shape[0] - start)
            yield np.fromfile(f, dtype, k * row).reshape(k, *shape[1:])


def _recorder(names_file, views_file) -> Callable[[Item], None]:
    """What `prepare` calls on each image written: its name, and with `views_file` (the
    combined hash) its pHash views, from the full-size image."""

    def record(item: Item) -> None:
        names_file.write(json.dumps(item.name) + "\n")
        if views_file is not None:
            try:
                views_file.write(view_codes(item.data).tobytes())
            except Exception as e:  # decoded for its thumbnail, yet not in full: rare
                raise DcganError(f"{item.name}: no pHash views ({first_line(e)})") from None

    return record


def _old_views(index: Path | None, count: int) -> np.ndarray:
    """The pHash views of an earlier index made by the combined hash."""
    if index is None:
        return np.zeros((0, VIEWS, VIEW_BYTES), np.uint8)
    path = index / VIEWS_NPY
    if not path.is_file():
        raise DcganError(f"{index} has no {VIEWS_NPY}: not an index made by the combined hash")
    try:
        views = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DcganError(
            f"{path}: the index's pHash views are unreadable ({first_line(e)})"
        ) from None
    if views.shape != (count, VIEWS, VIEW_BYTES) or views.dtype != np.uint8:
        raise DcganError(f"{path}: not the pHash views of the {count} indexed images")
    return views


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
    # JSON escapes a name that is not UTF-8 as \udcXX (Python's surrogateescape: os.fsencode
    # gives the file name's bytes back); the CSV holds the name's own bytes, as `ls` shows.
    atomic_write_text(out / GROUPS_JSON, json.dumps({**summary, "items": rows}, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["group", "index", "name", "kept", "hash"])
    for row in rows:
        for m, kept in [(row["keep"], 1)] + [(d, 0) for d in row["duplicates"]]:
            writer.writerow([row["group"], m["index"], m["name"], kept, row["hash"]])
    data = buf.getvalue().encode("utf-8", "surrogateescape")
    atomic_write(out / GROUPS_CSV, lambda f: f.write(data))


def contact_sheet(images: np.ndarray, groups: list[np.ndarray], path: Path, width: int = 8):
    """One row per group (its first `width` members, the kept one first) on white."""
    blank = np.full((3, SIDE, SIDE), 255, np.uint8)
    rows = [[images[i] for i in g[:width]] for g in groups] or [[blank]]
    tiles = np.stack([t for row in rows for t in row + [blank] * (width - len(row))])
    tensor = to_unit_range(torch.from_numpy(tiles))
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
    combined = (hash_model.kind if hash_model else config.hash) == "combined"
    old_views = _old_views(index, len(old)) if combined else None
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".dedup.", dir=out))
    # Every output is written into `staged` first and moved into `out` once all are complete:
    # a failure (a full disk, a bad name) leaves `out` as it was, never half of a result.
    staged = work / "out"
    staged.mkdir()
    published = False
    try:
        t0 = time.perf_counter()
        if index:
            shutil.copyfile(index / NAMES, work / NAMES)
        with (
            open(work / NAMES, "a", encoding="utf-8") as names_file,
            open(work / "views.bin", "wb") if combined else contextlib.nullcontext() as views_file,
        ):
            record = _recorder(names_file, views_file)
            thumbs = prepare(
                source,
                work / "thumbs",
                SIDE,
                3,
                workers=workers,
                progress=progress,
                on_written=record,
            )
        images = np.load(thumbs / IMAGES, mmap_mode="r")
        t1 = time.perf_counter()
        if hash_model is None:
            hash_model = train_hash(images, config)
        save_model(hash_model, staged / MODEL)
        t2 = time.perf_counter()
        k = len(old)
        codes = np.concatenate([old, *map(hash_model.hash, read_batches(thumbs / IMAGES))])
        radius = RADIUS[hash_model.kind] if config.radius is None else config.radius
        if combined:
            new = np.fromfile(work / "views.bin", np.uint8).reshape(-1, VIEWS, VIEW_BYTES)
            all_views = np.concatenate([old_views, new])
            labels = combined_labels(codes, all_views, radius, config.views_radius)
            atomic_write(staged / VIEWS_NPY, lambda f: np.save(f, all_views))
        else:
            labels = group_labels(codes, radius)
        groups = duplicate_groups(labels)
        groups = [g for g in groups if g[-1] >= k]  # only groups with a new image
        t3 = time.perf_counter()
        wanted = {int(i) for g in groups for i in g}
        _write_groups(staged, groups, _read_lines(work / NAMES, wanted), codes, k)
        shown = [g[g >= k] - k for g in groups[: config.sheet_groups]]  # new images only
        contact_sheet(images, shown, staged / SHEET)
        atomic_write(staged / HASHES, lambda f: np.save(f, codes))
        shutil.copyfile(work / NAMES, staged / NAMES)
        extra = (VIEWS_NPY,) if combined else ()
        for name in (*extra, MODEL, HASHES, NAMES, GROUPS_CSV, SHEET, GROUPS_JSON):
            os.replace(staged / name, out / name)  # a rename on one filesystem needs no space
        if not combined:  # an earlier combined run's views would not match this index
            (out / VIEWS_NPY).unlink(missing_ok=True)
        published = True
        clean = None
        if clean_size is not None:
            dropped = set(
                _read_lines(work / NAMES, {int(i) for g in groups for i in g[1:]}).values()
            )
            clean = _clean(source, out / CLEAN, clean_size, dropped, workers, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made and not published:
            with contextlib.suppress(OSError):
                out.rmdir()  # the folder this call made, unless something else is in it now
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
