"""Directions in z read from the JSON that `dcgan arithmetic` and `dcgan turn` write.

- `turn.json`: `turn_vector` (mean z of right- minus left-facing faces);
- `arithmetic.smile.json`: `smile_vector` (mean z of smiling minus neutral faces);
- `arithmetic.glasses.json`, `arithmetic.mouth-open.json`: `vector` (mean z(A) - mean z(B));
- `arithmetic.json` of "A - B + C": Y - mean(C), i.e. the offset the expression adds to its
  last concept (mean(A) - mean(B): "smiling woman - neutral woman" is "smile");
- any JSON list of nz numbers, or an object with a `vector` list.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from dcgan.errors import DcganError
from dcgan.experiments.latent import parse_expression


def direction_from_record(record: Any, nz: int) -> list[float]:
    """The direction a saved record holds, as nz floats; DcganError when it holds none."""
    v = _candidate(record)
    if (
        not isinstance(v, list)
        or len(v) != nz
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        or not all(_finite(x) for x in v)
    ):
        raise DcganError(f"no direction of {nz} numbers found (a turn, smile or arithmetic JSON)")
    return [float(x) for x in v]


def _finite(x: float) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float (JSON allows any length)
        return False


def _candidate(record: Any) -> Any:
    if isinstance(record, list):
        return record
    if not isinstance(record, dict):
        return None
    for key in ("vector", "turn_vector", "smile_vector"):
        if key in record:
            return record[key]
    if {"expression", "y", "mean_z"} <= record.keys():
        try:
            sign, last = parse_expression(record["expression"])[-1]
            y = torch.tensor(record["y"], dtype=torch.float64)
            offset = y - sign * torch.tensor(record["mean_z"][last], dtype=torch.float64)
        except (DcganError, KeyError, TypeError, ValueError, RuntimeError, AttributeError):
            return None
        return offset.tolist()
    return None


def load_direction(path: str | Path, nz: int) -> tuple[str, list[float]]:
    """(name, vector) from a JSON file; the name is the file's stem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise DcganError(f"direction file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise DcganError(f"{path} is not a JSON file ({e})") from None
    try:
        return path.stem, direction_from_record(record, nz)
    except DcganError as e:
        raise DcganError(f"{path}: {e}") from None
