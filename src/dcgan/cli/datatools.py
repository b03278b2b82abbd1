"""Verbs of the dataset tools of paper §4.1.1 and §4.2: dedup, faces."""

from __future__ import annotations

import argparse

from dcgan.cli.args import add_dataclass_args, build_dataclass, source_flags
from dcgan.config import DedupConfig, FacesConfig


def cmd_dedup(args: argparse.Namespace) -> None:
    from dcgan.experiments.dedup import dedup

    config = build_dataclass(DedupConfig, args)
    r = dedup(
        args.source,
        args.out,
        config,
        model=args.model,
        clean_size=args.clean_size,
        format=args.format,
        key=args.key,
        split=args.split,
        workers=args.workers,
    )
    print(
        f"{r.count} images, {len(r.groups)} duplicate groups, {r.removed} to remove;"
        f" written to {r.out}"
    )


def cmd_faces(args: argparse.Namespace) -> None:
    from dcgan.experiments.faces import faces

    r = faces(
        args.source,
        args.out,
        build_dataclass(FacesConfig, args),
        out_format=args.out_format,
        format=args.format,
        key=args.key,
        split=args.split,
    )
    n = r.by_count
    print(
        f"{len(r.crops)} faces from {r.images} images (0: {n['0']}, 1: {n['1']},"
        f" many: {n['many']}) written to {r.out}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser("dedup", help="near-duplicate groups by a learned 128-bit hash (§3)")
    source_flags(p)
    add_dataclass_args(p, DedupConfig)
    p.add_argument(
        "--model",
        help="a saved hash model (.pt) to reuse, or an earlier dedup --out: its model, and"
        " the new images are checked against its index",
    )
    p.add_argument("--clean-size", type=int, help="also pack the kept images at this size")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    p.set_defaults(func=cmd_dedup)

    p = verbs.add_parser("faces", help="OpenCV face crops as a training set (§3)")
    source_flags(p)
    add_dataclass_args(p, FacesConfig)
    p.add_argument(
        "--out-format",
        choices=("packed", "folder"),
        default="packed",
        help="packed dataset or PNG folder (default: %(default)s)",
    )
    p.set_defaults(func=cmd_faces)
