"""Verbs of the paper's experiments: classify (§5)."""

from __future__ import annotations

import argparse

from dcgan.cli.args import add_dataclass_args, build_dataclass, number_list


def cmd_classify(args: argparse.Namespace) -> None:
    from dcgan.experiments.classify import ClassifyConfig, classify
    from dcgan.experiments.report import caption, table, write_classify_report

    result = classify(build_dataclass(ClassifyConfig, args))
    print(f"{caption(result)}\n\n{table(result)}", end="")
    if args.out:
        write_classify_report(result, args.out)
        print(f"table, JSON and plot written to {args.out}/")


def register(verbs: argparse._SubParsersAction) -> None:
    from dcgan.experiments.classify import ClassifyConfig

    p = verbs.add_parser("classify", help="D features + L2-SVM with few labels (paper §5)")
    p.add_argument("checkpoint", help="checkpoint file or run directory")
    p.add_argument("--data", required=True, help="labelled source the examples are drawn from")
    add_dataclass_args(p, ClassifyConfig, skip=("checkpoint", "data", "c_values"))
    c_values = ClassifyConfig.__dataclass_fields__["c_values"]
    p.add_argument(
        "--c",
        dest="c_values",
        type=number_list(float),
        default=c_values.default,
        help=c_values.metadata["help"] + " (default: %(default)s)",
    )
    p.set_defaults(func=cmd_classify)
