"""Flags generated from the config dataclasses (one table of defaults for CLI and API), and
the flag groups several verbs share."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, skip: tuple = ()) -> None:
    """One flag per field of `cls` (nested dataclasses flattened), help and default included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            add_dataclass_args(parser, kind, skip)
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "") + " (default: %(default)s)"
        if kind is bool:
            parser.add_argument(
                flag(f.name),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
            continue
        base = kind
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            base = next(t for t in typing.get_args(kind) if t is not type(None))
        if typing.get_origin(base) is tuple:
            base = number_list(typing.get_args(base)[0])
        choices = typing.get_args(base) if typing.get_origin(base) is typing.Literal else None
        base = str if choices else base
        parser.add_argument(
            flag(f.name), type=base, default=default, help=help_text, choices=choices
        )


def number_list(kind: type) -> typing.Callable[[str], tuple]:
    """An argparse type for comma-separated numbers: '10,100,1000' -> (10, 100, 1000)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers like 1,2,3, got {text!r}") from None

    return parse


def build_dataclass(cls: type, args: argparse.Namespace):
    """The inverse of add_dataclass_args."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = build_dataclass(hints[f.name], args)
        elif hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    return cls(**values)


def sample_flags(p: argparse.ArgumentParser, nargs: str | None = None) -> None:
    p.add_argument("checkpoint", nargs=nargs, help="checkpoint file or run directory")
    p.add_argument(
        "--bn",
        choices=("batch", "running"),
        default="batch",
        help="BatchNorm statistics at sampling (default: %(default)s)",
    )
    p.add_argument("--no-ema", action="store_true", help="use G, not its EMA, when both exist")


def source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="any source prepare reads: folder, tar, LMDB, npz, ...")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", help="source format (default: detected from the path)")
    p.add_argument("--key", help="array key in an npz")
    p.add_argument("--split", default="train", help="split to read (default: %(default)s)")
