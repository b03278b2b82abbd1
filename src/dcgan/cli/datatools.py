"""Verbs of the dataset tools of paper §4.1.1 and §4.2: dedup, faces."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import Source, add_verb
from dcgan.options import count, opt
from dcgan.options_data import DedupConfig, FacesConfig


@dataclass
class DedupArgs:
    source: Source
    config: DedupConfig
    model: str | None = opt(
        None,
        "a saved hash model (.pt) to reuse, or an earlier dedup --out: its model, and"
        " the new images are checked against its index",
    )
    clean_size: int | None = opt(None, "also pack the kept images at this size", check=count(4096))
    workers: int | None = opt(None, "decoding processes (default: all cores)", check=count(1024))


@dataclass
class FacesArgs:
    source: Source
    config: FacesConfig
    out_format: Literal["packed", "folder"] = opt("packed", "packed dataset or PNG folder")


def cmd_dedup(a: DedupArgs) -> None:
    from dcgan.experiments.dedup import dedup

    s = a.source
    r = dedup(
        s.source,
        s.out,
        a.config,
        model=a.model,
        clean_size=a.clean_size,
        format=s.format,
        key=s.key,
        split=s.split,
        workers=a.workers,
    )
    print(
        f"{r.count} images, {len(r.groups)} duplicate groups, {r.removed} to remove;"
        f" written to {r.out}"
    )


def cmd_faces(a: FacesArgs) -> None:
    from dcgan.experiments.faces import faces

    s = a.source
    r = faces(
        s.source,
        s.out,
        a.config,
        out_format=a.out_format,
        format=s.format,
        key=s.key,
        split=s.split,
    )
    n = r.by_count
    print(
        f"{len(r.crops)} faces from {r.images} images (0: {n['0']}, 1: {n['1']},"
        f" many: {n['many']}) written to {r.out}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "dedup",
        DedupArgs,
        cmd_dedup,
        "near-duplicate groups by a learned 128-bit hash (paper §4.1.1)",
    )
    add_verb(
        verbs, "faces", FacesArgs, cmd_faces, "OpenCV face crops as a training set (paper §4.2)"
    )
