"""Typed options: a dataclass field with its help and its check, the checks themselves (one
message style: "<name> must be <rule>, got <value>"), and the cache location.

Every config dataclass (dcgan.config) and every verb's dataclass (dcgan.cli) declares its
fields with `opt`; the command line is generated from them (dcgan.cli.args), and the same
checks run on the command line (naming the flag) and in the Python API (naming the field).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcgan.errors import DcganError


def _cache_dir() -> str:
    """$DCGAN_CACHE, else $XDG_CACHE_HOME/dcgan, else ~/.cache/dcgan."""
    if os.environ.get("DCGAN_CACHE"):
        return str(Path(os.environ["DCGAN_CACHE"]).expanduser())
    base = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return str(Path(base) / "dcgan")


# Where raw sources are prepared once, and features and statistics are kept.
CACHE = _cache_dir()

# Bounds of what one command may ask for, far above any real use: a huge count is refused in
# one line instead of allocating gigabytes first. Seeds are what torch and NumPy accept.
MAX_SEED = 2**32 - 1
MAX_IMAGES = 100_000  # images generated or shown by one command
MAX_SHOWN = 1_024  # images on one sheet or grid


@dataclasses.dataclass(frozen=True)
class Check:
    """A rule on a number (or on each number of a tuple): finite, and `test` holds."""

    test: Callable[[float], bool]
    rule: str  # read as "<name> must be <rule>"

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            return
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise DcganError(f"{name} must be {self.rule}, got {v!r}")
            # An integer of any size is finite (and too large for math.isfinite).
            if not ((isinstance(v, numbers.Integral) or math.isfinite(v)) and self.test(v)):
                raise DcganError(f"{name} must be {self.rule}, got {v}")


def between(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Check:
    """lo <= v <= hi, either end open on request; written [lo, hi], (lo, hi), ..."""

    def test(v: float) -> bool:
        return (lo < v if open_lo else lo <= v) and (v < hi if open_hi else v <= hi)

    return Check(test, f"in {'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}")


def count(limit: int, low: int = 1) -> Check:
    """An integer in low..limit (counts, sizes, intervals)."""

    def test(v: float) -> bool:
        return (isinstance(v, numbers.Integral) or float(v).is_integer()) and low <= v <= limit

    return Check(test, f"in {low}..{limit}")


POSITIVE = Check(lambda v: v > 0, "positive")
NON_NEGATIVE = Check(lambda v: v >= 0, "non-negative")
FINITE = Check(lambda v: True, "a finite number")
SEED = count(MAX_SEED, low=0)
STEPS = count(10**12)  # step counts and step intervals
TRUNCATION = between(0, 1)
TRUNCATION_HELP = (
    "truncation psi in [0, 1]: each z scaled toward the prior's mean by psi (1: none;"
    " lower: more typical, less varied images)"
)


def opt(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    check: Check | None = None,
    factory: Callable[[], Any] | None = None,
    **cli: Any,
) -> Any:
    """A field with its help text and check; `cli` holds how the command line shows it:
    positional=True, flag="--c" (another flag name), metavar="SEEDS", and old=("name",):
    former names of the field, still accepted for one release with a deprecation warning
    (as `--name` on the command line and `name=` in the API; "--name": the flag only)."""
    meta = {"help": help, "check": check, **cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def choices(kind: Any) -> tuple | None:
    """The values of a Literal type (or of an optional one), else None."""
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)
    for arg in typing.get_args(kind):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _text(kind: Any) -> tuple[bool, bool]:
    """(is a text field, may be None) for a field's type."""
    if kind is str:
        return True, False
    if typing.get_origin(kind) in (list, tuple):  # texts, numbers: not one text
        return False, False
    args = typing.get_args(kind)
    return (str in args and set(args) <= {str, type(None)}), type(None) in args


def _check_text(obj: Any, name: str, kind: Any) -> None:
    """A text field holds text: a path object becomes its text, anything else is refused."""
    text, optional = _text(kind)
    value = getattr(obj, name)
    if not text or isinstance(value, str) or (value is None and optional):
        return
    if isinstance(value, os.PathLike):
        setattr(obj, name, os.fspath(value))
        return
    raise DcganError(f"{name} must be text (a path or a name), got {value!r}")


def validate(obj: Any) -> None:
    """Run each field's check on `obj` (a dataclass), and the choices of its Literal fields,
    naming the field in the error. A text field given a path object holds its text."""
    for f in dataclasses.fields(obj):
        _check_text(obj, f.name, _hints(type(obj))[f.name])
        value = getattr(obj, f.name)
        allowed = choices(_hints(type(obj))[f.name])
        if allowed is not None and value is not None and value not in allowed:
            listed = ", ".join(map(str, allowed))
            raise DcganError(f"{f.name} must be one of {listed}, got {value!r}")
        check = f.metadata.get("check")
        if check is not None:
            check(f.name, value)


@dataclasses.dataclass
class Options:
    """Base of a verb's options: its fields are checked when it is built (or replaced)."""

    def __post_init__(self) -> None:
        validate(self)


def renamed(cls: type) -> dict[str, str]:
    """{old name: field name} of the fields of `cls` that were renamed (their `old`; an old
    name written as a flag, "--bn", was the flag's name only)."""
    return {
        old: f.name
        for f in dataclasses.fields(cls)
        for old in f.metadata.get("old", ())
        if not old.startswith("--")
    }


T = typing.TypeVar("T")


def configure(cls: type[T], config: T | None, options: dict[str, Any]) -> T:
    """The options of an API call: `config` (or the defaults) with `options` replacing its
    fields, built and so checked by `cls` itself: the one validation path of the CLI and the
    API. A former field name is accepted with a DeprecationWarning."""
    if config is not None and not isinstance(config, cls):  # an old positional argument?
        raise TypeError(f"config must be a {cls.__name__}, got {config!r}")
    fixed = {}
    for name, value in options.items():
        new = renamed(cls).get(name)
        if new is not None:
            warnings.warn(f"{name}= is deprecated, use {new}=", DeprecationWarning, stacklevel=3)
        fixed[new or name] = value
    unknown = set(fixed) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise TypeError(f"unknown option(s) of {cls.__name__}: {', '.join(sorted(unknown))}")
    base = config if config is not None else cls()
    return dataclasses.replace(base, **fixed) if fixed else base  # type: ignore[type-var]
