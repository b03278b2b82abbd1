"""Latent vectors kept in a file (the output of `dcgan project`), used next to seeds.

A z file is a `.npy` array of shape (k, nz), or a JSON object whose "z" is a list of k
lists of nz numbers (dcgan project writes both). Verbs that take seeds (interpolate,
arithmetic, explore) accept `p<i>` for row i of the file beside plain seeds: `0,p0,p3-p5`.
The file is untrusted: .npy is read without pickle, sizes and values are checked.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from dcgan.conventions import parse_seeds, z_from_seeds
from dcgan.data.base import open_regular
from dcgan.errors import DcganError, first_line
from dcgan.options import MAX_IMAGES
from dcgan.trained import Loaded

Point = int | str  # a seed, or "p<i>": row i of a z file
MAX_BYTES = 256 * 2**20  # a z file of 100,000 rows of nz 100 in float64 is 80 MB
Z_BOUND = 1e3  # |z| beyond this is no latent of any prior this project uses


def read_latents(path: str | Path, nz: int) -> torch.Tensor:
    """The rows (k, nz) of a z file, as float32; one line naming the file when it is not one."""
    path = Path(path)
    try:
        with open_regular(path) as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise DcganError(f"larger than {MAX_BYTES // 2**20} MiB")
        if path.suffix.lower() == ".npy":
            if not data.startswith(b"\x93NUMPY"):
                raise DcganError("not a .npy array")
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as e:  # numpy's text invites unpickling: say what it is instead
                if "pickle" in str(e):
                    raise DcganError("it holds Python objects, which are never loaded") from None
                raise
        else:
            record = json.loads(data.decode("utf-8"))
            if not isinstance(record, dict) or "z" not in record:
                raise DcganError('a JSON z file is an object with a "z" list of lists')
            array = np.asarray(record["z"], dtype=np.float64)
    except (OSError, ValueError, UnicodeDecodeError, DcganError) as e:
        raise DcganError(f"{path}: not a z file ({first_line(e)})") from None
    return _checked(array, nz, path)


def _checked(array: np.ndarray, nz: int, path: Path) -> torch.Tensor:
    if array.ndim == 1 and array.size == nz:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != nz or not 1 <= array.shape[0] <= MAX_IMAGES:
        raise DcganError(
            f"{path}: a z file holds 1..{MAX_IMAGES} rows of nz={nz} numbers, "
            f"got shape {tuple(array.shape)}"
        )
    if array.dtype.kind not in "fiu":
        raise DcganError(f"{path}: z must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or np.abs(array).max() > Z_BOUND:
        raise DcganError(f"{path}: z must be finite numbers within +-{Z_BOUND:g}")
    return torch.from_numpy(array).float()


def parse_points(text: str) -> list[Point]:
    """'0-3,p0,p2-p4' -> [0, 1, 2, 3, 'p0', 'p2', 'p3', 'p4']: seeds and z-file rows."""
    out: list[Point] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"p(\d+)(?:-p(\d+))?", part)
        if m is None:
            out.extend(parse_seeds(part))
            continue
        first, last = int(m[1]), int(m[2] or m[1])
        if last < first or last - first >= MAX_IMAGES:
            raise DcganError(f"bad z-file rows {part!r}: use p0-p3 (first <= last)")
        out.extend(f"p{i}" for i in range(first, last + 1))
    if len(out) > MAX_IMAGES:
        raise DcganError(f"bad seeds {text!r}: at most {MAX_IMAGES} points")
    return out


def points_z(points: list[Point], nz: int, dist: str, latents: torch.Tensor | None) -> torch.Tensor:
    """The latent of each point: z of a seed under the prior, or a row of `latents`."""
    rows = []
    for p in points:
        if isinstance(p, str):
            m = re.fullmatch(r"p(\d+)", p)
            if m is None:
                raise DcganError(f"bad point {p!r}: a seed or p<i>, a row of the z file")
            if latents is None:
                raise DcganError(f"{p} names a row of a z file: give the file (--latents)")
            if int(m[1]) >= len(latents):
                raise DcganError(f"{p}: the z file has rows p0..p{len(latents) - 1} only")
            rows.append(latents[int(m[1])][None])
        elif isinstance(p, int) and not isinstance(p, bool) and p >= 0:
            rows.append(z_from_seeds([p], nz, dist))
        else:
            raise DcganError(f"bad point {p!r}: a non-negative seed or p<i>")
    return torch.cat(rows) if rows else torch.zeros(0, nz)


def latents(
    model: Loaded, seeds: Iterable[Point], z_file: str | Path | None = None
) -> torch.Tensor:
    """The latents of `seeds` under the model's prior; a point "p<i>" is row i of `z_file`
    (a z file of dcgan project)."""
    nz = model.generator.config.nz
    rows = read_latents(z_file, nz) if z_file is not None else None
    return points_z(list(seeds), nz, model.config.z_dist, rows)
