"""Verbs of sample quality: evaluate, report."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import add_verb
from dcgan.errors import DcganError
from dcgan.options import CACHE, MAX_SHOWN, SEED, count, opt


@dataclass
class EvaluateArgs:
    checkpoint: str | None = opt(
        None,
        "checkpoint file or run directory (optional with --train-extractor)",
        positional=True,
        optional=True,
    )
    bn: Literal["batch", "running"] = opt("batch", "BatchNorm statistics at sampling")
    no_ema: bool = opt(False, "use G, not its EMA, when both exist")
    data: str | None = opt(None, "real images, any source (default: the run's training data)")
    metrics: str = opt("fid,kid,is,pr", "comma list of fid, kid, is, pr")
    n: int = opt(10000, "samples and real images", check=count(10**7, low=2))
    extractor: str = opt(
        "inception",
        "inception (torch-fidelity's Inception-v3), mnist (the shipped MNIST classifier)"
        " or a classifier .pt from --train-extractor",
    )
    inception_weights: str | None = opt(
        None, "Inception-v3 weights file (default: torch's hub cache)"
    )
    seed: int = opt(0, "first sample seed", check=SEED)
    json: str | None = opt(None, "also write the result as JSON to this file")
    cache: str = opt(CACHE, "prepared data and real statistics")
    device: str = opt("auto", "auto, cpu, cuda, ...")
    train_extractor: bool = opt(
        False, "first train a classifier on --data (labelled) and evaluate with it"
    )
    extractor_out: str = opt("extractor.pt", "where --train-extractor saves the classifier")
    extractor_epochs: int = opt(5, "its training epochs", check=count(10_000))


@dataclass
class ReportArgs:
    run_dir: str = opt("", "run directory", positional=True)
    n: int = opt(64, "final samples shown", check=count(MAX_SHOWN))


def cmd_evaluate(a: EvaluateArgs) -> None:
    import json

    from dcgan.io import atomic_write_text
    from dcgan.metrics.evaluate import evaluate, format_table

    extractor = a.extractor
    if a.train_extractor:
        from dcgan.metrics.train_extractor import train_extractor

        if not a.data:
            raise DcganError("--train-extractor needs --data LABELLED (a labelled source)")
        info = train_extractor(a.data, a.extractor_out, epochs=a.extractor_epochs, cache=a.cache)
        print(f"extractor written to {info['path']} (held-out accuracy {info['accuracy']:.4f})")
        extractor = info["path"]
        if a.checkpoint is None:
            return
    if a.checkpoint is None:
        raise DcganError("evaluate needs a checkpoint or run directory (or --train-extractor)")
    result = evaluate(
        a.checkpoint,
        data=a.data,
        metrics=a.metrics,
        n=a.n,
        extractor=extractor,
        inception_weights=a.inception_weights,
        ema=not a.no_ema,
        bn=a.bn,
        seed=a.seed,
        cache=a.cache,
        device=a.device,
    )
    print(format_table(result))
    if "warning" in result:
        print(f"dcgan: warning: {result['warning']}", file=sys.stderr)
    if a.json:
        atomic_write_text(a.json, json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {a.json}")


def cmd_report(a: ReportArgs) -> None:
    from dcgan.report import write_report

    print(f"report written to {write_report(a.run_dir, n=a.n)}")


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "evaluate",
        EvaluateArgs,
        cmd_evaluate,
        "sample-quality metrics: FID, KID, IS, precision/recall",
    )
    add_verb(
        verbs, "report", ReportArgs, cmd_report, "write report.html for a run (open it from disk)"
    )
