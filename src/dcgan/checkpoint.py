"""Checkpoints: atomic `.pt` files that load with `torch.load(weights_only=True)`.

A checkpoint holds G, D (and G's EMA), both optimizers, the step, every RNG state and the
config as plain data, so loading never guesses the architecture and a resumed run continues
exactly. A run directory keeps the last K `ckpt-XXXXXXXX.pt` plus `latest.pt` (a hard link).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.io import atomic_write

FORMAT = "dcgan-checkpoint"
LATEST = "latest.pt"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as plain data (safe for weights_only loading)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(run_dir: str | Path, state: dict[str, Any], step: int, keep: int = 3) -> Path:
    """Write `ckpt-<step>.pt` atomically, point `latest.pt` at it, keep the last `keep`."""
    run_dir = Path(run_dir)
    path = save_file(run_dir / f"ckpt-{step:08d}.pt", state)
    _link_latest(path)
    old = sorted(run_dir.glob("ckpt-*.pt"))[:-keep] if keep > 0 else []
    for p in old:
        with contextlib.suppress(OSError):
            p.unlink()
    return path


def save_file(path: str | Path, state: dict[str, Any]) -> Path:
    """Write one checkpoint file atomically, outside the rotation (e.g. `best.pt`)."""
    return atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def _link_latest(path: Path) -> None:
    tmp = path.with_name(f".{LATEST}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(path, tmp)
    except OSError:  # a filesystem without hard links: fall back to a copy
        tmp.write_bytes(path.read_bytes())
    os.replace(tmp, path.with_name(LATEST))


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the `latest.pt` of a run directory."""
    path = Path(path)
    if path.is_dir():
        if (path / LATEST).is_file():
            return path / LATEST
        ckpts = sorted(path.glob("ckpt-*.pt"))
        if not ckpts:
            raise DcganError(f"no checkpoint in {path}")
        return ckpts[-1]
    if not path.is_file():
        raise DcganError(f"checkpoint not found: {path}")
    return path


def read_weights(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Whatever a `torch.save` file holds, read with weights_only=True (no code runs); a bad
    file is a clear error."""
    try:
        with warnings.catch_warnings():  # e.g. torch's note on a foreign pickle protocol:
            warnings.simplefilter("ignore")  # the error below, if any, is the one line
            return torch.load(path, map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        struct.error,  # a file cut short inside the pickle
        OSError,
    ) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DcganError(f"{path} is not a readable checkpoint ({first})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (file or run dir) with weights_only=True; a bad file is a clear error."""
    path = find_checkpoint(path)
    ckpt = read_weights(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DcganError(f"{path} is not a dcgan checkpoint")
    return ckpt
