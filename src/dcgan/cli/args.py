"""The command line of each verb, generated from its dataclass (one rule for every verb):
a field is a flag `--field-name` (nested dataclasses flattened), or a positional argument
where its metadata says so; Literal types list their choices; the default is shown once;
each value is checked by the field's check as it is parsed, naming the flag."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dcgan.errors import DcganError
from dcgan.io import check_not_special
from dcgan.options import choices, opt


def flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """Every (field, type) of `cls`, nested dataclasses flattened."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.extend(fields(hints[f.name]))
        elif f.init and not f.metadata.get("internal"):
            out.append((f, hints[f.name]))
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _shown(value: Any) -> str:
    """A default as the user would type it: 10,100,1000 rather than (10, 100, 1000)."""
    if isinstance(value, tuple | list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _base(kind: Any) -> Any:
    """The type inside `X | None`."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return next(t for t in typing.get_args(kind) if t is not type(None))
    return kind


def parse_value(kind: Any) -> Callable[[str], Any]:
    """An argparse type: text -> value of `kind` (a number, text, a comma list of numbers)."""
    base = _base(kind)
    item = typing.get_args(base)[0] if typing.get_origin(base) is tuple else base

    def convert(text: str) -> Any:
        if item is base:
            return item(text)
        try:
            return tuple(item(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers like 1,2,3, got {text!r}") from None

    convert.__name__ = item.__name__  # argparse names the type in its messages
    return convert


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argument per field of `cls`, with its help, choices, default and check."""
    for f, kind in fields(cls):
        meta, default, allowed = f.metadata, _default(f), choices(kind)
        help_text = meta.get("help", "").replace("%", "%%")
        kw: dict[str, Any] = {"help": help_text, "metavar": meta.get("metavar")}
        if meta.get("positional"):
            names = [f.name]
            if meta.get("optional"):
                kw.update(nargs="?", default=default)
        else:
            names = [flag(f)]
            kw.update(dest=f.name, default=default, required=meta.get("required"))
        if kind is bool:
            # --x for an opt-in flag; --x/--no-x (argparse shows the default) for one that is on.
            kw["action"] = argparse.BooleanOptionalAction if default else "store_true"
        elif typing.get_origin(_base(kind)) is list:
            kw["action"] = "append"
        else:
            kw["choices"] = allowed
            kw["type"] = type(allowed[0]) if allowed else parse_value(kind)
            if typing.get_origin(_base(kind)) is tuple:
                kw["metavar"] = kw["metavar"] or "N,N,..."
            if (
                default not in (None, "")
                and "default" not in help_text
                and not meta.get("required")
            ):
                kw["help"] = f"{help_text} (default: {_shown(default)})"
        action = parser.add_argument(*names, **{k: v for k, v in kw.items() if v is not None})
        if kind is bool and default and "%(default)" not in (action.help or ""):
            action.help = f"{help_text} (default: on)"  # where argparse shows none


def build_dataclass(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The inverse of add_dataclass_args: the verb's dataclass from parsed arguments, each
    value checked first, the error naming its flag."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = build_dataclass(hints[f.name], args)
        elif f.name in extra:
            values[f.name] = extra[f.name]
        elif hasattr(args, f.name) and f.init:
            value = values[f.name] = getattr(args, f.name)
            if f.metadata.get("check") is not None:
                f.metadata["check"](flag(f) if not f.metadata.get("positional") else f.name, value)
    return cls(**values)


def given_flags(cls: type, argv: tuple[str, ...]) -> set[str]:
    """Names of the fields of `cls` whose flag appears in `argv` (abbreviations are off)."""
    typed = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    found = set()
    for f, kind in fields(cls):
        names = {flag(f)}
        if kind is bool:
            names.add("--no-" + f.name.replace("_", "-"))
        if names & typed:
            found.add(f.name)
    return found


def old_flags(cls: type) -> dict[str, str]:
    """{deprecated flag: its new name} of the fields of `cls` that were renamed."""
    out = {}
    for f, kind in fields(cls):
        for old in f.metadata.get("old", ()):
            name = old.removeprefix("--").replace("_", "-")
            out["--" + name] = flag(f)
            if kind is bool:
                out["--no-" + name] = "--no-" + f.name.replace("_", "-")
    return out


def rename_old_flags(cls: type, argv: list[str]) -> tuple[list[str], list[str]]:
    """`argv` with each deprecated flag of `cls` replaced by its new name, and a warning for
    each (they stay accepted for one release)."""
    renames, out, warnings = old_flags(cls), [], []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if name in renames:
            warnings.append(f"{name} is deprecated, use {renames[name]}")
            arg = renames[name] + eq + value
        out.append(arg)
    return out, warnings


def add_verb(
    verbs: argparse._SubParsersAction, name: str, cls: type, func: Callable, help: str
) -> argparse.ArgumentParser:
    """Register verb `name`: its flags from `cls`, run as `func(cls(...))`."""
    p = verbs.add_parser(name, help=help, description=help)
    add_dataclass_args(p, cls)
    p.set_defaults(func=func, spec=cls)
    return p


@dataclass
class Checkpoint:
    """The generator a verb reads (flattened into its flags)."""

    checkpoint: str = opt(
        "", "checkpoint file, run directory or model package (folder)", positional=True
    )
    bn: Literal["batch", "running"] = opt("batch", "BatchNorm statistics at sampling")
    no_ema: bool = opt(False, "use G, not its EMA, when both exist")


@dataclass
class Source:
    """A source a dataset tool reads, and the folder it writes (flattened into its flags)."""

    source: str = opt("", "any source prepare reads: folder, tar, LMDB, npz, ...", positional=True)
    out: str = opt("", "output folder", required=True)
    format: str | None = opt(None, "source format (default: detected from the path)")
    key: str | None = opt(None, "array key in an npz")
    split: str = opt("train", "split to read")


def png_out(out: str, grid: bool = False) -> Path:
    """`--out` of a verb that writes PNG: a .png file, or a directory (a trailing /, an
    existing folder or a name without a suffix). Another suffix is refused rather than
    given PNG bytes under a name that promises another format."""
    if not out.strip():
        raise DcganError("the output path (--out) is empty: name a file or folder to write")
    path = Path(out)
    if out.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        if check_not_special(path, "a folder").is_file():
            raise DcganError(f"{path} exists and is a file, not a folder: choose another output")
        return path
    if path.suffix.lower() != ".png":
        what = "a grid .png or a directory/" if grid else "a .png file or a directory"
        raise DcganError(f"--out {out}: this verb writes PNG images; name {what}")
    return check_not_special(path)
