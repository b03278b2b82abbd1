"""A model package: one folder holding a trained DCGAN the way shared models are laid out.

- `config.json`: the model config (paper §3), the z prior, the BatchNorm mode to sample
  with, the training recipe and data, what was measured, and where a converted model came
  from;
- `model.safetensors`: G's tensors under `G.`, D's under `D.` when there is a D;
- `README.md`: a model card, a YAML header (library_name, license, datasets, tags, and the
  metrics with their value, N and extractor) over a sample grid (`samples.png` beside it),
  the command that trained the model, FID/KID where measured, and the paper's citation.

G is the one `dcgan.load` gives by default: its EMA when the run kept one (`ema=False`, or
`--no-ema`, writes G itself). A package keeps one G and no optimizer: it is for using a
model, not for resuming its training. Loading reads JSON and safetensors only (nothing is
unpickled), and gives back the same tensors, so the same images, bit for bit. Written by
dcgan.pretrained.save_pretrained (`dcgan export --out-format package`, `dcgan pull`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dcgan.checkpoint import checkpoint_config
from dcgan.errors import DcganError, first_line
from dcgan.extras import require
from dcgan.models import Discriminator, Generator
from dcgan.trained import Loaded, check_finite

CONFIG, WEIGHTS, CARD, GRID = "config.json", "model.safetensors", "README.md", "samples.png"
FORMAT = "dcgan-package"


def is_package(path: str | Path) -> bool:
    """Whether `path` is a package folder (it holds model.safetensors)."""
    return Path(path).is_dir() and (Path(path) / WEIGHTS).is_file()


def read_config(path: Path) -> dict[str, Any]:
    where = path / CONFIG
    try:
        about = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DcganError(f"{path} has a {WEIGHTS} but no {CONFIG}: not a model package") from None
    except (OSError, ValueError) as e:
        raise DcganError(f"{where} is not readable JSON ({first_line(e)})") from None
    if not isinstance(about, dict) or about.get("format") != FORMAT:
        raise DcganError(f"{where} is not the config of a dcgan model package")
    return about


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    safetensors = require("export", "safetensors")
    where = path / WEIGHTS
    try:
        with safetensors.safe_open(str(where), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except (safetensors.SafetensorError, OSError, ValueError, TypeError) as e:
        raise DcganError(f"{where} is not a readable safetensors file ({first_line(e)})") from None


def load_package(path: str | Path, ema: bool = True, device: str | torch.device = "cpu") -> Loaded:
    """A package folder as `dcgan.load` gives a checkpoint: G, D when kept, the config."""
    path = Path(path)
    about = read_config(path)
    if not ema and about.get("ema"):
        raise DcganError(
            f"{path} keeps G's EMA only (a package holds one G): leave out --no-ema, or export"
            " the run again with --no-ema"
        )
    train, step = about.get("train"), about.get("step", 0)
    if not isinstance(train, dict) or type(step) is not int or step < 0:
        raise DcganError(f"{path / CONFIG}: its train table or step is not valid")
    config = checkpoint_config(
        {**train, "model": about.get("model"), "z_dist": about.get("z_dist")}, path / CONFIG
    )
    tensors = _read_tensors(path)
    nets: dict[str, dict[str, torch.Tensor]] = {"G": {}, "D": {}}
    for key, value in tensors.items():
        net, _, name = key.partition(".")
        if net not in nets or not name:
            raise DcganError(f"{path / WEIGHTS}: tensor {key!r} is neither G's nor D's")
        nets[net][name] = value
    try:
        g = Generator(config.model)
        g.load_state_dict(nets["G"])
        d = None
        if nets["D"]:
            d = Discriminator(config.model)
            d.load_state_dict(nets["D"])
    except Exception as e:  # the loader policy: whatever does not fit is one line
        raise DcganError(f"{path}: weights do not match its config ({first_line(e)})") from None
    check_finite(g.state_dict(), f"{path}: its G")
    if d is not None:
        check_finite(d.state_dict(), f"{path}: its D")
        d.to(device).eval()
    source = about.get("source") if isinstance(about.get("source"), dict) else None
    return Loaded(g.to(device).eval(), d, config, step, path, bool(about.get("ema")), source)
