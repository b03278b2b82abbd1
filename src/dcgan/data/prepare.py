"""`prepare`: convert a source once into a packed dataset directory.

The directory holds `images.npy` (uint8, N x C x S x S, memory-mappable), `labels.npy`
(int64, N) when the source has labels, and `meta.json`. Images are streamed: decoded and
resized in a process pool, block by block, and appended to `images.npy`, whose header is
rewritten with the final count at the end. Everything is written into a temporary sibling
folder that replaces `out` only when complete, so an interrupted run never leaves a
half-written dataset behind; the temporary folders a killed run leaves (named with its
process id) are removed by the next prepare into the same `out`.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dcgan import __version__
from dcgan.data.images import convert_or_reason
from dcgan.data.sources import Item, Payload, Source, open_source
from dcgan.errors import DcganError, first_line
from dcgan.io import default_mode
from dcgan.options import configure
from dcgan.options_data import PrepareConfig

IMAGES, LABELS, META = "images.npy", "labels.npy", "meta.json"
CHUNK = 16  # items per task sent to a worker
MAX_SKIPPED_LISTED = 10
# Encoded bytes (tar members, LMDB values) read ahead in one block: however large the
# images, at most two blocks of about this size are in memory.
MAX_BLOCK_BYTES = 256_000_000


def is_packed(path: str | Path) -> bool:
    """Whether `path` is a packed dataset directory (it has meta.json and images.npy)."""
    path = Path(path)
    return (path / META).is_file() and (path / IMAGES).is_file()


def _pool_context():
    # fork starts workers at once without re-importing torch; elsewhere use the default.
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _blocks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    """Lists of `size` items, cut short once their encoded bytes reach MAX_BLOCK_BYTES."""
    block, held = [], 0
    for item in items:
        block.append(item)
        held += len(item.data) if isinstance(item.data, bytes) else 0
        if len(block) == size or held >= MAX_BLOCK_BYTES:
            yield block
            block, held = [], 0
    if block:
        yield block


def _converted(
    items: Iterator[Item], convert: Callable[[Payload], Any], workers: int
) -> Iterator[tuple[list[Item], list[Any]]]:
    """Yield (block of items, their conversions) in source order. With a pool, one block
    is converted while the previous one is written, and at most two blocks are in memory
    (Pool.imap would read the whole source ahead)."""
    blocks = _blocks(items, max(256, 8 * CHUNK * workers))
    if workers <= 1:
        for block in blocks:
            yield block, [convert(item.data) for item in block]
        return
    with _pool_context().Pool(workers) as pool:
        pending = None
        for block in blocks:
            job = pool.map_async(convert, [item.data for item in block], chunksize=CHUNK)
            if pending is not None:
                yield pending[0], pending[1].get()
            pending = block, job
        if pending is not None:
            yield pending[0], pending[1].get()


def _next_block(blocks: Iterator, source: Source) -> tuple[list[Item], list[Any]] | None:
    """The next block of a source, or None at its end. The loader policy: a reader that
    fails on a damaged file, whatever it raises, is one line naming the source."""
    try:
        return next(blocks, None)
    except DcganError:
        raise
    except Exception as e:
        raise DcganError(f"cannot read {source.spec} ({first_line(e)})") from None


def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write(
    source: Source,
    folder: Path,
    size: int,
    channels: int,
    workers: int,
    limit: int | None,
    bar,
    on_written: Callable[[Item], None] | None = None,
) -> dict[str, Any]:
    """Stream the converted images into folder/images.npy (and labels.npy); return the
    counts for meta.json. `on_written` sees each item that was written, in order."""
    tail = (channels, size, size)
    count, skipped, examples, labels = 0, 0, [], []
    convert = partial(convert_or_reason, size=size, channels=channels)
    with open(folder / IMAGES, "wb") as f:
        # numpy pads the header so that the count can grow in place (same length).
        f.write(_npy_header((0, *tail)))
        blocks = _converted(islice(iter(source), limit), convert, workers)
        while (pair := _next_block(blocks, source)) is not None:
            block, results = pair
            for item, result in zip(block, results, strict=True):
                if isinstance(result, str):
                    skipped += 1
                    if len(examples) < MAX_SKIPPED_LISTED:
                        examples.append({"name": item.name, "reason": result})
                    continue
                f.write(result.tobytes())
                if on_written is not None:
                    on_written(item)
                if source.has_labels:
                    labels.append(item.label)
                count += 1
            bar.update(len(block))
        header = _npy_header((count, *tail))
        if len(header) != len(_npy_header((0, *tail))):
            raise RuntimeError("npy header length changed: cannot rewrite it in place")
        f.seek(0)
        f.write(header)
    if count == 0:
        first = f" (first: {examples[0]['name']}: {examples[0]['reason']})" if examples else ""
        raise DcganError(
            f"no decodable images in {source.spec}: {skipped} skipped{first}"
            if skipped
            else f"no images found in {source.spec}"
        )
    result: dict[str, Any] = {"count": count, "skipped": skipped, "skipped_examples": examples}
    if source.has_labels:
        labels = np.asarray(labels, np.int64)
        np.save(folder / LABELS, labels)
        result["num_classes"] = len(source.classes) if source.classes else int(labels.max()) + 1
    return result


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` onto `out`; an old dataset at `out` stays whole until then."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = tmp.with_name(tmp.name + ".old")
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine); when unsure, it does."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists, owned by another user
        return True
    return True


def _remove_stale_tmp(out: Path) -> None:
    """Remove the temporary folders of earlier prepares into `out` whose process is gone
    (killed runs): `.<out>.<pid>.<random>.tmp`, and `.tmp.old` from `_replace`. Folders of
    live processes, of other outputs, and with no pid in their name are left alone."""
    pattern = re.compile(re.escape(f".{out.name}.") + r"(\d+)\.[a-z0-9_]+\.tmp(\.old)?")
    for entry in out.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            pid = int(match[1])
            if pid > 0 and pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(entry, ignore_errors=True)


def _config(
    size: int | None, channels: int | None, config: PrepareConfig | None, options: dict
) -> PrepareConfig:
    """The PrepareConfig of a call: `config` (or the defaults) with the size and channels
    given by position and the `options` given by name, checked as the CLI checks them."""
    given = {k: v for k, v in (("size", size), ("channels", channels)) if v is not None}
    if twice := sorted(given.keys() & options.keys()):
        raise TypeError(f"prepare() got {', '.join(twice)} both by position and by name")
    return configure(PrepareConfig, config, given | options)


def prepare(
    source: str | Path | Source,
    out: str | Path,
    size: int | None = None,
    channels: int | None = None,
    /,
    config: PrepareConfig | None = None,
    *,
    progress: bool = True,
    root: str | Path | None = None,
    limit: int | None = None,
    on_written: Callable[[Item], None] | None = None,
    **options: Any,
) -> Path:
    """Convert `source` (a path, a dataset name or an opened `Source`) into the packed
    dataset directory `out` and return its path.

    Images are centre-cropped to a square and resized to `size` x `size` with `channels`
    channels (None: the source's own, 1 or 3). `size`, `channels` and `options` are
    PrepareConfig's fields (format, key, split: how `open_source` reads the source, with
    `root`; workers decode in parallel, default all CPUs). `limit` keeps only the first
    images (for tests and quick trials). A valid packed dataset at `out` is replaced.
    `on_written(item)` is called for each image written, in order (skipped ones are not).
    """
    c = _config(size, channels, config, options)
    size, format, key, split = c.size, c.format, c.key, c.split
    if limit is not None and limit < 1:
        raise DcganError(f"limit must be positive, got {limit}")
    if not isinstance(source, Source):
        source = open_source(source, format, key=key, split=split, root=root)
    out = Path(out)
    if out.exists() and not is_packed(out) and (not out.is_dir() or any(out.iterdir())):
        raise DcganError(f"{out} exists and is not a packed dataset: choose another output")
    channels = c.channels or source.channels
    workers = c.workers or os.cpu_count() or 1
    total = min(source.length, limit or source.length) if source.length else limit
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(out)
    # .<out>.<pid>.<random>.tmp: the pid tells a later run whether its creator still lives
    prefix = f".{out.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out.parent))
    os.chmod(tmp, default_mode(directory=True))  # mkdtemp makes 0700: a dataset is shared
    try:
        desc = f"prepare {Path(source.spec).name or source.spec}"
        with tqdm(total=total, desc=desc, unit="img", disable=not progress) as bar:
            counts = _write(source, tmp, size, channels, workers, limit, bar, on_written)
        meta = {
            "source": source.spec,
            "source_path": str(source.path) if source.path else None,
            "format": source.format,
            "split": split,
            "key": key,
            "limit": limit,
            "count": counts["count"],
            "size": size,
            "channels": channels,
            "has_labels": source.has_labels,
            "num_classes": counts.get("num_classes"),
            "classes": source.classes,
            "skipped": counts["skipped"],
            "skipped_examples": counts["skipped_examples"],
            "images_sha256": _sha256(tmp / IMAGES),
            "labels_sha256": _sha256(tmp / LABELS) if source.has_labels else None,
            "dcgan_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if counts["skipped"]:
        first = counts["skipped_examples"][0]
        warnings.warn(
            f"skipped {counts['skipped']} image(s) of {source.spec} that did not decode"
            f" (first: {first['name']}: {first['reason']}); listed in {out / META}",
            stacklevel=2,
        )
    return out
