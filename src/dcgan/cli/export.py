"""Verbs that take a trained generator out of training: export (safetensors, ONNX,
TorchScript) and explore (the latent-space explorer in a browser)."""

from __future__ import annotations

import argparse

from dcgan.cli.args import sample_flags


def cmd_export(args: argparse.Namespace) -> None:
    from dcgan.export import CHECK_SEEDS, TOLERANCE, export

    result = export(
        args.checkpoint, args.format, args.out, args.bn, not args.no_ema, force=args.force
    )
    m = result.metadata["model"]
    print(
        f"{result.format} generator ({m['size']} px, nz {m['nz']}, BatchNorm frozen at "
        f"'{result.metadata['bn']}') written to {result.path}; max abs diff vs PyTorch on "
        f"{len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e} (< {TOLERANCE:g})"
    )


def cmd_explore(args: argparse.Namespace) -> None:
    from dcgan.explore import Engine, make_server

    engine = Engine(args.checkpoint, bn=args.bn, ema=not args.no_ema, directions=args.direction)
    server = make_server(engine, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"dcgan explore: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def register(verbs: argparse._SubParsersAction) -> None:
    from dcgan.export import FORMATS

    p = verbs.add_parser("export", help="write the generator as safetensors, ONNX or TorchScript")
    sample_flags(p)
    p.add_argument("--format", required=True, choices=FORMATS, help="file format")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--force", action="store_true", help="replace an --out of another kind")
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("explore", help="a latent-space explorer in the browser (local server)")
    sample_flags(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)"
    )
    p.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="JSON",
        help="a direction to move along: the JSON of dcgan turn or arithmetic (repeatable)",
    )
    p.set_defaults(func=cmd_explore)
