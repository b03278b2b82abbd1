"""`save_pretrained`: a trained model written as a package folder (dcgan.package), with its
model card: a YAML header (library_name, license, datasets, tags, and the metrics with their
value, N and extractor) over a sample grid, the command that trained the model, FID/KID
where measured, and the paper's citation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

import torch

from dcgan.checkpoint import find_checkpoint, has_checkpoint
from dcgan.config import TrainConfig
from dcgan.errors import DcganError
from dcgan.extras import require
from dcgan.io import atomic_write, atomic_write_text, check_not_special, new_folder, output_path
from dcgan.options import configure
from dcgan.options_tools import ExportConfig
from dcgan.package import CARD, CONFIG, FORMAT, GRID, WEIGHTS, is_package, read_config
from dcgan.sampling import BN_MODES, Loaded, grid_image, load, sample, save_png

GRID_SEEDS = range(64)
# TrainConfig fields that say where a run was kept, not how it was trained.
NOT_RECIPE = ("out", "cache", "progress", "device")
NOT_METRICS = {"step", "epoch", "eval", "best", "eval_s"}
BIBTEX = """@inproceedings{radford2016dcgan,
  title     = {Unsupervised Representation Learning with Deep Convolutional Generative
               Adversarial Networks},
  author    = {Radford, Alec and Metz, Luke and Chintala, Soumith},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2016}
}"""


def save_pretrained(
    model: Loaded | str | Path,
    out: str | Path,
    config: ExportConfig | None = None,
    bn: str = "batch",
    ema: bool = True,
    source: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """Write `model` (a loaded model, checkpoint, run directory or package) as a package
    folder `out`, which is replaced as a whole only when it is a package already. `bn` is the
    BatchNorm mode its card's samples use and recommend; `source` adds to the provenance of a
    converted model (name, summary, homepage, datasets, ...); `options` are ExportConfig's
    fields (license)."""
    c = configure(ExportConfig, config, options)
    if bn not in BN_MODES:
        raise DcganError(f"unknown BatchNorm mode {bn!r}: use one of {', '.join(BN_MODES)}")
    out = _check_out(out)
    loaded = model if isinstance(model, Loaded) else load(model, ema=ema)
    about = describe(loaded, bn, c.license, {**(loaded.source or {}), **(source or {})})
    safetensors = require("export", "safetensors.torch")
    data = safetensors.save(_tensors(loaded), metadata={"format": "pt"})
    grid, text = grid_image(sample(loaded, GRID_SEEDS, bn=bn), nrow=8), card(about, out.name)
    with new_folder(out) as tmp:
        atomic_write(tmp / WEIGHTS, lambda f: f.write(data))
        atomic_write_text(tmp / CONFIG, json.dumps(about, indent=2) + "\n")
        save_png(grid, tmp / GRID)
        atomic_write_text(tmp / CARD, text)
    return out


def _check_out(out: str | Path) -> Path:
    """`out` as a package folder to write: new, empty or a package already."""
    out = check_not_special(output_path(out), "a folder")
    if out.exists() and not out.is_dir():
        raise DcganError(f"{out} is a file, and a package is a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_package(out):
        what = "a run directory" if has_checkpoint(out) else "a folder of other files"
        raise DcganError(f"{out} is {what}, not a model package: choose a new or empty folder")
    return out


def _tensors(model: Loaded) -> dict[str, torch.Tensor]:
    nets = {"G": model.generator, "D": model.discriminator}
    return {
        f"{name}.{k}": v.detach().cpu().contiguous()
        for name, net in nets.items()
        if net is not None
        for k, v in net.state_dict().items()
    }


def describe(model: Loaded, bn: str, license: str, source: dict[str, Any]) -> dict[str, Any]:
    """The content of config.json."""
    from dcgan import __version__

    train = model.config.to_dict()
    recipe = {k: v for k, v in train.items() if k not in ("model", "z_dist", *NOT_RECIPE)}
    return {
        "format": FORMAT,
        "library_name": "dcgan",
        "dcgan_version": __version__,
        "model": train["model"],
        "z_dist": model.config.z_dist,
        "bn": bn,
        "ema": model.ema,
        "discriminator": model.discriminator is not None,
        "step": model.step,
        "train": recipe,
        "license": license,
        "datasets": list(source.get("datasets") or [Path(model.config.data).name]),
        "metrics": measured(model),
        "source": source or None,
    }


def measured(model: Loaded) -> list[dict[str, Any]]:
    """Metrics measured on these weights: the eval rows of the run's stats.jsonl at the
    model's step (training evaluates G's EMA when there is one), or a package's own."""
    if is_package(model.path):
        return list(read_config(model.path).get("metrics") or [])
    if model.ema != bool(model.config.ema):  # the other G was evaluated
        return []
    with contextlib.suppress(DcganError, OSError):
        stats = find_checkpoint(model.path).parent / "stats.jsonl"
        rows = [json.loads(line) for line in stats.read_text().splitlines() if line.strip()]
        extractor = Path(model.config.eval_extractor).name
        return [
            {"type": k, "value": v, "n": model.config.eval_n, "extractor": extractor}
            for row in rows
            if isinstance(row, dict) and row.get("eval") and row.get("step") == model.step
            for k, v in row.items()
            if k not in NOT_METRICS and isinstance(v, int | float)
        ]
    return []


def train_command(config: TrainConfig) -> str:
    """The `dcgan train` command of a config: its data, and each field that differs from its
    default."""
    from dcgan.cli.args import flag

    args = ["dcgan", "train", "--data", config.data]

    def add(obj: Any, default: Any) -> None:
        for f in dataclasses.fields(obj):
            value, base = getattr(obj, f.name), getattr(default, f.name)
            if dataclasses.is_dataclass(value):
                add(value, base)
            elif f.name in (*NOT_RECIPE, "data") or f.metadata.get("internal") or value == base:
                continue
            elif isinstance(value, bool):
                args.append(flag(f) if value else "--no-" + f.name.replace("_", "-"))
            elif value is not None:
                shown = ",".join(map(str, value)) if isinstance(value, tuple | list) else value
                args.extend([flag(f), str(shown)])

    add(config, TrainConfig())
    return shlex.join(args)


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block YAML of plain data (strings quoted as JSON, which YAML reads)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, dict | list):
                lines += [f"{pad}{k}:", *_yaml(v, indent + 2)]
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
        return lines
    lines = []
    for item in value:
        inner = _yaml(item, indent + 2) if isinstance(item, dict | list) else [json.dumps(item)]
        first = inner[0].strip() if isinstance(item, dict | list) else inner[0]
        lines += [f"{pad}- {first}", *inner[1:]]
    return lines


def card(about: dict[str, Any], name: str) -> str:
    """The model card, README.md: a YAML header and what a user needs to know."""
    m, source, metrics = about["model"], about["source"] or {}, about["metrics"]
    header: dict[str, Any] = {
        "library_name": "dcgan",
        "license": about["license"],
        "datasets": about["datasets"],
        "tags": ["dcgan", "gan", "unconditional-image-generation", "pytorch"],
        "pipeline_tag": "unconditional-image-generation",
    }
    if metrics:
        header["metrics"] = sorted({x["type"] for x in metrics})
        header["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "unconditional-image-generation"},
                        "dataset": {"name": about["datasets"][0], "type": about["datasets"][0]},
                        "metrics": [
                            {
                                "type": x["type"],
                                "value": x["value"],
                                "args": {"n": x["n"], "extractor": x["extractor"]},
                            }
                            for x in metrics
                        ],
                    }
                ],
            }
        ]
    bn = about["bn"]
    flag = " --bn running" if bn == "running" else ""
    g = "G's exponential moving average" if about["ema"] else "G"
    d = "included (`D.` tensors)" if about["discriminator"] else "not included"
    steps = "not known (converted)" if source.get("converted_from") else about["step"]
    lines = [
        "---",
        *_yaml(header),
        "---",
        "",
        f"# {name}",
        "",
        source.get("summary")
        or "A DCGAN (Radford, Metz & Chintala, ICLR 2016, paper §3) trained with dcgan.",
        "",
        "| | |",
        "|---|---|",
        f"| images | {m['size']}×{m['size']}, {m['channels']} channel(s), in [-1, 1] |",
        f"| z | {m['nz']}-d, {about['z_dist']} |",
        f"| generator | {g}, width {m['ngf']} |",
        f"| discriminator | {d} |",
        f"| BatchNorm at sampling | `{bn}` |",
        f"| training steps | {steps} |",
        "",
        "![64 samples, seeds 0-63](samples.png)",
        "",
        "## Use",
        "",
        "```bash",
        f"dcgan sample {name}{flag} --out grid.png",
        "```",
        "",
        "```python",
        "from dcgan import load, sample",
        "",
        f'images = sample(load("{name}"), seeds=range(64), bn="{bn}")  # (64, C, S, S)',
        "```",
        "",
        "## Training",
        "",
        *_provenance(about, source),
        "",
        "## Evaluation",
        "",
        *_evaluation(metrics),
        "",
        "## Citation",
        "",
        "```bibtex",
        BIBTEX,
        "```",
        "",
    ]
    return "\n".join(lines)


def _provenance(about: dict[str, Any], source: dict[str, Any]) -> list[str]:
    if source.get("converted_from"):
        lines = [f"Not trained by dcgan: converted from a {source['converted_from']}."]
        if source.get("homepage"):
            lines.append(f"Trained by its authors: {source['homepage']}.")
        if source.get("pulled"):
            lines.append(f"Get it with `dcgan pull {source['pulled']}` (from {source['from']}).")
        sums = source.get("sha256") or {}
        if sums:
            lines += ["", "| file | sha256 |", "|---|---|"]
            lines += [f"| {k} | `{v}` |" for k, v in sums.items()]
        return lines
    train = {**about["train"], "model": about["model"], "z_dist": about["z_dist"]}
    return ["```bash", train_command(TrainConfig.from_dict(train)), "```"]


def _evaluation(metrics: list[dict[str, Any]]) -> list[str]:
    if not metrics:
        return ["Not measured on these weights (`dcgan evaluate` measures FID and KID)."]
    rows = [f"| {x['type']} | {x['value']:.4g} | {x['n']} | {x['extractor']} |" for x in metrics]
    return ["| metric | value | N | extractor |", "|---|---|---|---|", *rows]
