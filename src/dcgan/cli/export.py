"""Verbs that take a trained generator out of training: export (safetensors, ONNX,
TorchScript) and explore (the latent-space explorer in a browser)."""

from __future__ import annotations

import argparse

from dcgan.cli.args import sample_flags


def cmd_export(args: argparse.Namespace) -> None:
    from dcgan.export import CHECK_SEEDS, TOLERANCE, export

    result = export(args.checkpoint, args.format, args.out, bn=args.bn, ema=not args.no_ema)
    m = result.metadata["model"]
    print(
        f"{result.format} generator ({m['size']} px, nz {m['nz']}, BatchNorm frozen at "
        f"'{result.metadata['bn']}') written to {result.path}; max abs diff vs PyTorch on "
        f"{len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e} (< {TOLERANCE:g})"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    from dcgan.export import FORMATS

    p = verbs.add_parser("export", help="write the generator as safetensors, ONNX or TorchScript")
    sample_flags(p)
    p.add_argument("--format", required=True, choices=FORMATS, help="file format")
    p.add_argument("--out", required=True, help="output file")
    p.set_defaults(func=cmd_export)
