"""Evaluating a generator: samples -> uint8 -> features -> metrics against cached real stats.

The protocol: sample i is the image of seed i (as `dcgan sample --n N --out dir/` writes
it), made in batches under no_grad with the EMA generator when the run kept one, quantised
to uint8 like a saved PNG; the real images are the data packed at the generator's size.
`Evaluator` is shared by `dcgan evaluate` and evaluation during training; it draws from no
global random generator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgan.checkpoint import load_checkpoint, step_of
from dcgan.conventions import quantize, z_from_seeds
from dcgan.data.packed import PackedDataset, resolve_data
from dcgan.devices import pick_device
from dcgan.errors import DcganError
from dcgan.extras import require
from dcgan.metrics.extractors import Extractor, get_extractor
from dcgan.metrics.fidelity import METRICS, Features, compute, parse_metrics
from dcgan.metrics.reference import reference
from dcgan.options import CACHE, configure
from dcgan.options_tools import EvaluateConfig
from dcgan.package import is_package
from dcgan.rundir import BEST
from dcgan.sampling import load, with_bn_mode

GEN_BATCH = 250


@torch.no_grad()
def generated_features(
    g: nn.Module,
    n: int,
    extractor: Extractor,
    z_dist: str = "uniform",
    bn: str = "batch",
    seed: int = 0,
    logits_extractor: Extractor | None = None,
) -> Features:
    """Features of the images of seeds seed..seed+n-1, generated in batches; their logits
    from `logits_extractor` when given (IS with an extractor that has none)."""
    g = with_bn_mode(g, bn, z_dist)  # a copy: the caller's G (and its BN stats) is untouched
    device = next(g.parameters()).device
    z = z_from_seeds(list(range(seed, seed + n)), g.config.nz, z_dist)
    feats, logits = [], []
    for zb in z.split(GEN_BATCH):
        images = quantize(g(zb.to(device)).float()).cpu()
        part = extractor(images)
        feats.append(part.features)
        logits.append(logits_extractor(images).logits if logits_extractor else part.logits)
    return Features(torch.cat(feats), None if logits[0] is None else torch.cat(logits))


def is_extractor(
    extractor: Extractor, names: list[str], weights: str | Path | None, device: Any
) -> Extractor | None:
    """The extractor of IS's logits when `names` asks for IS and `extractor` has none:
    torch-fidelity's Inception, or one line saying that its weights are missing."""
    if "is" not in names or extractor.has_logits:
        return None
    try:
        return get_extractor("inception-fidelity", weights, device)
    except DcganError as e:
        raise DcganError(
            f"IS needs torch-fidelity's Inception logits ({e}); or drop is from --metrics"
        ) from None


class Evaluator:
    """Metrics of generators against one real dataset (its statistics computed or cached once)."""

    def __init__(
        self,
        dataset: PackedDataset,
        extractor: Extractor,
        metrics: str | list[str] = "fid",
        n: int = 10000,
        cache: str | Path | None = CACHE,
        logits_extractor: Extractor | None = None,
    ) -> None:
        self.metrics = parse_metrics(metrics)
        extractor.check_channels(dataset.channels, f"data {dataset.path}")
        self.extractor, self.n, self.logits_extractor = extractor, n, logits_extractor
        self.real = reference(dataset, extractor, n, cache)

    def __call__(
        self, g: nn.Module, z_dist: str = "uniform", bn: str = "batch", seed: int = 0
    ) -> dict[str, float]:
        fake = generated_features(
            g, self.n, self.extractor, z_dist, bn, seed, self.logits_extractor
        )
        return compute(self.metrics, fake, self.real)


def evaluate(
    checkpoint: str | Path,
    config: EvaluateConfig | None = None,
    ema: bool = True,
    bn: str = "batch",
    **options: Any,
) -> dict:
    """Evaluate a checkpoint (file, run dir or model package) against real data (default:
    its training data); `options` are EvaluateConfig's fields.

    Returns a JSON-ready dict: what was compared, and `metrics` (fid, kid_mean, kid_std,
    is_mean, is_std, precision, recall, f_score, as asked). Images of other channels than the
    extractor's are refused; `warning` says when the real images look foreign to it.
    """
    c = configure(EvaluateConfig, config, options)
    data, metrics, n, extractor, cache = c.data, c.metrics, c.n, c.extractor, c.cache
    inception_weights, seed, device = c.inception_weights, c.first_seed, c.device
    require("metrics", "torch_fidelity")  # before any work: the metric math is torch-fidelity's
    t0 = time.monotonic()
    names = parse_metrics(metrics)
    device = pick_device(device)
    model = load(checkpoint, ema=ema, device=device)
    cfg = model.config
    ext = get_extractor(extractor, inception_weights, device, cache)  # before any data
    ext.check_channels(cfg.model.channels, f"the generator of {model.path}")
    logits_ext = is_extractor(ext, names, inception_weights, device)
    dataset = resolve_data(
        data or cfg.data,
        cfg.model.size,
        cfg.model.channels,
        None if data else cfg.format,
        cache,
        progress=False,
    )
    evaluator = Evaluator(dataset, ext, names, n, cache, logits_ext)
    values = evaluator(model.generator, cfg.z_dist, bn, seed)
    warning = ext.domain_warning(evaluator.real.features)
    every = each_checkpoint(evaluator, checkpoint, (model.step, values), ema, bn, seed, device)
    return {
        "checkpoint": str(model.path),
        "step": model.step,
        "generator": "ema" if ema and cfg.ema else "G",
        "data": str(data or cfg.data),
        "data_sha256": dataset.meta.get("images_sha256"),
        "extractor": ext.name,
        "n_fake": n,
        "n_real": min(n, len(dataset)),
        "bn": bn,
        "seed": seed,
        "metrics": values,
        **every,
        "seconds": round(time.monotonic() - t0, 2),
        **({"warning": warning} if warning else {}),
    }


def kept_checkpoints(path: str | Path) -> list[Path]:
    """The step checkpoints a run directory keeps, oldest first, then its best.pt."""
    path = Path(path)
    if not path.is_dir() or is_package(path):
        return []
    best = [path / BEST] if (path / BEST).is_file() else []
    return sorted(path.glob("ckpt-*.pt")) + best


def each_checkpoint(
    evaluator: Evaluator,
    checkpoint: str | Path,
    latest: tuple[int, dict[str, float]],
    ema: bool,
    bn: str,
    seed: int,
    device: Any,
) -> dict:
    """For a run directory keeping more than one checkpoint: the metrics of each, and the best
    by the first metric (`latest`: the step and values of the one evaluated already)."""
    files = kept_checkpoints(checkpoint)
    if len(files) < 2:
        return {}
    rows = []
    for path in files:
        if path.name != BEST and step_of(path) == latest[0]:
            values = latest[1]
        else:
            model = load(path, ema=ema, device=device)
            values = evaluator(model.generator, model.config.z_dist, bn, seed)
        rows.append({"checkpoint": str(path), "step": _step(path), "metrics": values})
    metric = METRICS[evaluator.metrics[0]]
    key, sign = metric.primary, (-1 if metric.higher_is_better else 1)
    best = min(rows, key=lambda r: sign * r["metrics"][key])
    return {"checkpoints": rows, "best": {**best, "by": key}}


def _step(path: Path) -> int:
    if path.name != BEST:
        return step_of(path)
    return int(load_checkpoint(path).get("step", 0))


LABELS = {
    "fid": ("FID", "fid", None),
    "kid": ("KID", "kid_mean", "kid_std"),
    "is": ("IS", "is_mean", "is_std"),
    "precision": ("precision", "precision", None),
    "recall": ("recall", "recall", None),
}


def format_table(result: dict) -> str:
    """The result of `evaluate` as a small text table."""
    m = result["metrics"]
    lines = [
        f"checkpoint  {result['checkpoint']} (step {result['step']}, {result['generator']})",
        f"real data   {result['data']} ({result['n_real']} images)",
        f"samples     {result['n_fake']} (seeds {result['seed']}.., BatchNorm {result['bn']})",
        f"extractor   {result['extractor']}",
    ]
    if not result["extractor"].startswith("inception"):
        lines.append("            (domain features: not comparable to Inception FID)")
    lines += ["", f"{'metric':<10} {'value':>12}"]
    for label, key, std in LABELS.values():
        if key in m:
            extra = f" ± {m[std]:.4g}" if std else ""
            lines.append(f"{label:<10} {m[key]:>12.5g}{extra}")
    if "checkpoints" in result:
        by = result["best"]["by"]
        lines += ["", f"{'checkpoint':<28} {'step':>8} {by:>12}"]
        for row in result["checkpoints"]:
            name = Path(row["checkpoint"]).name
            lines.append(f"{name:<28} {row['step']:>8} {row['metrics'][by]:>12.5g}")
        best = result["best"]
        name, value = Path(best["checkpoint"]).name, best["metrics"][by]
        lines.append(f"best: {name} (step {best['step']}, {by} {value:.5g})")
    return "\n".join(lines)
