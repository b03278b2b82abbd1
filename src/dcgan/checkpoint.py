"""Checkpoints: atomic `.pt` files that load with `torch.load(weights_only=True)`.

A checkpoint holds G, D (and G's EMA), both optimizers, the step, every RNG state and the
config as plain data, so loading never guesses the architecture and a resumed run continues
exactly. A run directory keeps the last K `ckpt-XXXXXXXX.pt` plus `latest.pt` (a hard link).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import random
import re
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from dcgan.config import ModelConfig, TrainConfig
from dcgan.errors import DcganError, UnsafeData, first_line
from dcgan.interrupts import deferred_signals
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
    with deferred_signals("writing a checkpoint"):
        path = save_file(run_dir / f"ckpt-{step:08d}.pt", state, previous=run_dir / LATEST)
        _link_latest(path)
        old = sorted(run_dir.glob("ckpt-*.pt"))[:-keep] if keep > 0 else []
        for p in old:
            with contextlib.suppress(OSError):
                p.unlink()
    return path


def save_file(path: str | Path, state: dict[str, Any], previous: Path | None = None) -> Path:
    """Write one checkpoint file atomically, outside the rotation (e.g. `best.pt`).

    A critical section: SIGINT/SIGTERM wait until the file is complete. A failed write
    (full disk, I/O error, read-only filesystem) is one line naming the file; its temp file
    is removed and `previous` (default: the file it would have replaced), if any, is kept."""
    path = Path(path)
    previous = path if previous is None else previous

    def write(f: IO) -> None:
        # Serialised in memory first: a failing disk then raises OSError with its errno
        # (torch's own writer reports every failure as an opaque RuntimeError).
        buf = io.BytesIO()
        torch.save({"format": FORMAT, **state}, buf)
        f.write(buf.getbuffer())

    try:
        with deferred_signals("writing a checkpoint"):
            return atomic_write(path, write)
    except OSError as e:
        kept = f"{previous} is kept" if previous.is_file() else "no earlier checkpoint exists"
        raise DcganError(f"cannot write checkpoint {path} ({e.strerror or e}); {kept}") from None


def _link_latest(path: Path) -> None:
    link_file(path, path.with_name(LATEST))


def link_file(path: Path, name: Path) -> None:
    """`name` becomes the file `path` atomically: a hard link (no second copy), or a copy
    where the filesystem has none."""
    tmp = name.with_name(f".{name.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        try:
            os.link(path, tmp)
        except OSError:  # a filesystem without hard links: fall back to a copy
            atomic_write(tmp, lambda f: f.write(path.read_bytes()))
        os.replace(tmp, name)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DcganError(f"cannot update {name} ({e.strerror or e})") from None


def step_of(path: Path) -> int:
    """The step in a `ckpt-<step>.pt` name (-1 for another name)."""
    match = _CKPT.fullmatch(path.name)
    return int(match[1]) if match else -1


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / LATEST).is_file() or any(run_dir.glob("ckpt-*.pt"))


def checkpoint_config(data: object, where: str | Path) -> TrainConfig:
    """The TrainConfig of a checkpoint's (or config.json's) plain data; one line if it is
    not one (a string, a list, a field of the wrong type)."""
    if not isinstance(data, dict):
        raise DcganError(f"{where}: its config is a {type(data).__name__}, not a table of settings")
    try:
        config = TrainConfig.from_dict(data)
    except DcganError as e:
        raise DcganError(f"{where}: {e}") from None
    except Exception as e:  # any field of the wrong type fails somewhere in the dataclass
        raise DcganError(f"{where}: its config is not valid ({first_line(e)})") from None
    if not isinstance(config.model, ModelConfig):
        kind = type(config.model).__name__
        raise DcganError(f"{where}: its model config is a {kind}, not a table of settings")
    return config


def run_config(run_dir: Path) -> TrainConfig:
    """The config.json of a run directory."""
    path = run_dir / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DcganError(f"{path} is not a readable run config ({first_line(e)})") from None
    return checkpoint_config(data, path)


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
    """Whatever a `torch.save` file holds, read with weights_only=True (no code runs).

    The one policy for a file that is not what it claims: whatever fails while reading it is
    one line naming the file (never torch's own message, which advises unsafe loading)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning is no news
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise UnsafeData(
                f"{path} is not a dcgan checkpoint: it holds Python objects beyond tensors and"
                " plain data, which are never loaded (loading them could run code)"
            ) from None
        raise DcganError(f"{path} is not a readable checkpoint ({_damage(path)})") from None
    except OSError as e:
        raise DcganError(f"cannot read checkpoint {path} ({e.strerror or e})") from None
    except Exception:  # torch raises anything from KeyError to RuntimeError on a bad file
        raise DcganError(f"{path} is not a readable checkpoint ({_damage(path)})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (file or run dir) with weights_only=True; anything that is not a
    dcgan checkpoint is one line naming the file (a DcganError)."""
    path = find_checkpoint(path)
    ckpt = read_weights(path, map_location)
    problem = _field_problem(ckpt)
    if problem:
        raise DcganError(f"{path} is not a dcgan checkpoint ({problem})")
    return ckpt


def _damage(path: Path) -> str:
    """Why torch could not read `path`, in words (torch's own messages advise unsafe loading)."""
    try:
        size = path.stat().st_size
        is_zip = zipfile.is_zipfile(path)
    except OSError:
        size, is_zip = 0, False
    if size == 0:
        return "an empty file"
    if not is_zip:
        return "not a PyTorch archive: cut short, or another kind of file"
    return "a damaged PyTorch archive"


def _tensor_dict(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    )


def _field_problem(ckpt: object) -> str | None:
    """What is wrong with a loaded checkpoint's fields, or None."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        return "no dcgan format tag"
    step = ckpt.get("step")
    if type(step) is not int or step < 0:
        return f"its step is {step!r}, not a count"
    if not isinstance(ckpt.get("config"), dict):
        return f"its config is a {type(ckpt.get('config')).__name__}, not a table of settings"
    for key in ("G", "D", "G_ema"):
        # G_ema is absent without --ema, D in a converted generator-only model
        if not (_tensor_dict(ckpt.get(key)) or (key != "G" and ckpt.get(key) is None)):
            return f"{key} is not a table of tensors"
    for key in ("opt_G", "opt_D", "rng"):
        if key in ckpt and not isinstance(ckpt[key], dict):
            return f"{key} is a {type(ckpt[key]).__name__}, not a table"
    return None


# A temp file of `dcgan.io.atomic_open` (`.<name>.<8 random chars>.tmp`) or `_link_latest`.
_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp|\.(latest|healthy)\.pt\.tmp")
_CKPT = re.compile(r"ckpt-(\d{8})\.pt")


def clean_run_dir(run_dir: str | Path) -> Path | None:
    """Tidy a run directory after a kill, before it is resumed: a complete temp checkpoint
    newer than every finished one (killed between its last byte and its rename) is promoted
    to `ckpt-<step>.pt` and `latest.pt`; every other temp file of the run is removed.
    Returns the promoted checkpoint, if any."""
    run_dir = Path(run_dir)
    temps = [p for d in (run_dir, run_dir / "samples") if d.is_dir() for p in d.iterdir()]
    temps = sorted(p for p in temps if _TEMP.fullmatch(p.name) and p.is_file())
    steps = [int(m[1]) for p in run_dir.glob("ckpt-*.pt") if (m := _CKPT.fullmatch(p.name))]
    newest, promoted = max(steps, default=-1), None
    for tmp in temps:
        match = _CKPT.fullmatch(_TEMP.fullmatch(tmp.name)["name"] or "")
        if match and int(match[1]) > newest and _holds_step(tmp, int(match[1])):
            promoted, newest = run_dir / match[0], int(match[1])
            os.replace(tmp, promoted)
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
    if promoted is not None:
        _link_latest(promoted)
    return promoted


def _holds_step(path: Path, step: int) -> bool:
    """Whether `path` is a complete, loadable checkpoint of `step`."""
    try:
        return load_checkpoint(path).get("step") == step
    except DcganError:
        return False
