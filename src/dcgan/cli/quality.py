"""Verbs of sample quality and a run's health: evaluate, report, doctor."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import add_verb
from dcgan.errors import DcganError
from dcgan.options import count, opt
from dcgan.options_tools import DoctorConfig, EvaluateConfig, ReportConfig


@dataclass
class EvaluateArgs:
    config: EvaluateConfig
    checkpoint: str | None = opt(
        None,
        "checkpoint file, run directory or model package (optional with --train-extractor)",
        positional=True,
        optional=True,
    )
    bn: Literal["batch", "running"] = opt("batch", "BatchNorm statistics at sampling")
    no_ema: bool = opt(False, "use G, not its EMA, when both exist")
    out: str | None = opt(None, "also write the result as JSON to this file", old=("json",))
    train_extractor: bool = opt(
        False, "first train a classifier on --data (labelled) and evaluate with it"
    )
    extractor_out: str = opt("extractor.pt", "where --train-extractor saves the classifier")
    extractor_epochs: int = opt(5, "its training epochs", check=count(10_000))


@dataclass
class ReportArgs:
    config: ReportConfig
    run_dir: str = opt("", "run directory", positional=True)


@dataclass
class DoctorArgs:
    config: DoctorConfig
    run_dir: str = opt("", "run directory", positional=True)


def cmd_evaluate(a: EvaluateArgs) -> None:
    import json

    from dcgan.io import atomic_write_text
    from dcgan.metrics.evaluate import evaluate, format_table

    extractor = a.config.extractor
    if a.train_extractor:
        from dcgan.metrics.train_extractor import train_extractor

        if not a.config.data:
            raise DcganError("--train-extractor needs --data LABELLED (a labelled source)")
        info = train_extractor(
            a.config.data, a.extractor_out, epochs=a.extractor_epochs, cache=a.config.cache
        )
        print(f"extractor written to {info['path']} (held-out accuracy {info['accuracy']:.4f})")
        extractor = info["path"]
        if a.checkpoint is None:
            return
    if a.checkpoint is None:
        raise DcganError(
            "evaluate needs a checkpoint, run directory or model package (or --train-extractor)"
        )
    config = dataclasses.replace(a.config, extractor=extractor)
    result = evaluate(a.checkpoint, config, ema=not a.no_ema, bn=a.bn)
    print(format_table(result))
    if "warning" in result:
        print(f"dcgan: warning: {result['warning']}", file=sys.stderr)
    if a.out:
        atomic_write_text(a.out, json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {a.out}")


def cmd_report(a: ReportArgs) -> None:
    from dcgan.report import write_report

    print(f"report written to {write_report(a.run_dir, a.config)}")


def cmd_doctor(a: DoctorArgs) -> int:
    """Exit code 1 when the run raised an alarm, so a script can tell."""
    from dcgan.doctor import diagnose

    diagnosis = diagnose(a.run_dir, a.config)
    print("\n".join(diagnosis.lines()))
    return 1 if diagnosis.alarms else 0


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
    add_verb(
        verbs,
        "doctor",
        DoctorArgs,
        cmd_doctor,
        "the watchdog's verdict on a run: alarms, where they began, the healthiest checkpoint",
    )
