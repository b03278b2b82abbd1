"""Verbs of the paper's experiments: classify (paper §5)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from dcgan.cli.args import add_verb
from dcgan.options_data import ClassifyConfig


@dataclass
class ClassifyArgs:
    config: ClassifyConfig


def cmd_classify(a: ClassifyArgs) -> None:
    from dcgan.experiments.classify.pipeline import classify
    from dcgan.experiments.classify.report import caption, table, write_classify_report

    result = classify(a.config)
    print(f"{caption(result)}\n\n{table(result)}", end="")
    if a.config.out:
        write_classify_report(result, a.config.out)
        print(f"table, JSON and plot written to {Path(a.config.out)}/")  # no '//' after a '/'


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "classify",
        ClassifyArgs,
        cmd_classify,
        "D features + L2-SVM with few labels (paper §5.1, §5.2)",
    )
