"""Validation of the explorer's JSON requests: every field checked for type, range and
length before anything reaches the generator; a bad field is a `BadRequest` (HTTP 4xx)."""

from __future__ import annotations

import math
from typing import Any

SEED_MAX = 2**31 - 2  # 2**31 - 1 is the BatchNorm reference batch's seed
MAX_IMAGES = 64  # images in one grid or samples request
MAX_FRAMES = 256  # frames of one walk or direction sweep
MAX_EXEMPLARS = 8  # seeds per arithmetic concept (the paper uses 3)
MAX_SCALE = 10.0  # |t| along a direction
MAX_BODY = 1 << 20  # bytes of one request body
MAX_DEPTH = 8  # nesting of a request's JSON (the deepest real request has 3 levels)


class BadRequest(Exception):
    """A request the explorer refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def field(body: dict[str, Any], name: str, default: Any = ...) -> Any:
    if name in body:
        return body[name]
    if default is ...:
        raise BadRequest(f"missing field {name!r}")
    return default


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must lie in [{lo}, {hi}], got {value}")
    return value


def number(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        finite = not isinstance(value, bool) and math.isfinite(value)
    except (TypeError, OverflowError):  # not a number, or an integer beyond any float
        finite = False
    if not finite:
        raise BadRequest(f"{name} must be a finite number, got {str(value)[:40]}")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must lie in [{lo}, {hi}], got {value}")
    return float(value)


def seed(value: Any, name: str = "seed") -> int:
    return integer(value, name, 0, SEED_MAX)


def seeds(value: Any, name: str, least: int, most: int) -> list[int]:
    """A list of `least`..`most` seeds."""
    if not isinstance(value, list) or not least <= len(value) <= most:
        raise BadRequest(f"{name} must be a list of {least} to {most} seeds")
    return [seed(v, f"{name}[{i}]") for i, v in enumerate(value)]


def points(value: Any, name: str, least: int, most: int, rows: int) -> list[int | str]:
    """A list of `least`..`most` points: seeds, or "p<i>" for row i < `rows` of the z file."""
    if not isinstance(value, list) or not least <= len(value) <= most:
        raise BadRequest(f"{name} must be a list of {least} to {most} seeds")
    out: list[int | str] = []
    for i, v in enumerate(value):
        if isinstance(v, str) and v[:1] == "p" and v[1:].isascii() and v[1:].isdigit():
            if int(v[1:]) >= rows:
                has = f"rows p0..p{rows - 1}" if rows else "no z file (start with --latents)"
                raise BadRequest(f"{name}[{i}] is {v[:40]}, but the explorer has {has}")
            out.append(v)
        else:
            out.append(seed(v, f"{name}[{i}]"))
    return out


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise BadRequest(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def vector(value: Any, name: str, length: int, bound: float = 1e3) -> list[float]:
    """A latent-sized list of finite numbers."""
    if not isinstance(value, list) or len(value) != length:
        raise BadRequest(f"{name} must be a list of {length} numbers (the latent size)")
    return [number(v, f"{name}[{i}]", -bound, bound) for i, v in enumerate(value)]


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # deeper than that is refused anyway
                stack += [
                    (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
                ]
    return deepest
