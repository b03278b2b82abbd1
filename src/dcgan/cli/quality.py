"""Verbs of sample quality: evaluate, report."""

from __future__ import annotations

import argparse

from dcgan.cli.args import sample_flags
from dcgan.errors import DcganError


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from dcgan.io import atomic_write_text
    from dcgan.metrics.evaluate import evaluate, format_table

    extractor = args.extractor
    if args.train_extractor:
        from dcgan.metrics.train_extractor import train_extractor

        if not args.data:
            raise DcganError("--train-extractor needs --data LABELLED (a labelled source)")
        info = train_extractor(
            args.data, args.extractor_out, epochs=args.extractor_epochs, cache=args.cache
        )
        print(f"extractor written to {info['path']} (held-out accuracy {info['accuracy']:.4f})")
        extractor = info["path"]
        if args.checkpoint is None:
            return
    if args.checkpoint is None:
        raise DcganError("evaluate needs a checkpoint or run directory (or --train-extractor)")
    result = evaluate(
        args.checkpoint,
        data=args.data,
        metrics=args.metrics,
        n=args.n,
        extractor=extractor,
        inception_weights=args.inception_weights,
        ema=not args.no_ema,
        bn=args.bn,
        seed=args.seed,
        cache=args.cache,
        device=args.device,
    )
    print(format_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")


def cmd_report(args: argparse.Namespace) -> None:
    from dcgan.report import write_report

    print(f"report written to {write_report(args.run_dir, n=args.n)}")


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser("evaluate", help="sample-quality metrics: FID, KID, IS, precision/recall")
    evaluate_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("report", help="write report.html for a run (open it from disk)")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--n", type=int, default=64, help="final samples shown (default: %(default)s)")
    p.set_defaults(func=cmd_report)


def evaluate_flags(p: argparse.ArgumentParser) -> None:
    sample_flags(p, nargs="?")  # the checkpoint is optional with --train-extractor
    p.add_argument("--data", help="real images, any source (default: the run's training data)")
    p.add_argument("--metrics", default="fid,kid,is,pr", help="comma list (default: %(default)s)")
    p.add_argument(
        "--n", type=int, default=10000, help="samples and real images (default: %(default)s)"
    )
    p.add_argument(
        "--extractor",
        default="inception",
        help="inception (torch-fidelity's Inception-v3), mnist (the shipped MNIST classifier)"
        " or a classifier .pt from --train-extractor (default: %(default)s)",
    )
    p.add_argument(
        "--inception-weights", help="Inception-v3 weights file (default: torch's hub cache)"
    )
    p.add_argument("--seed", type=int, default=0, help="first sample seed (default: %(default)s)")
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.add_argument("--cache", default=".cache/dcgan", help="prepared data and real statistics")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: %(default)s)")
    p.add_argument(
        "--train-extractor",
        action="store_true",
        help="first train a classifier on --data (labelled) and evaluate with it",
    )
    p.add_argument(
        "--extractor-out",
        default="extractor.pt",
        help="where --train-extractor saves the classifier (default: %(default)s)",
    )
    p.add_argument(
        "--extractor-epochs", type=int, default=5, help="its training epochs (default: %(default)s)"
    )
