"""Verbs that take a trained generator out of training: export (safetensors, ONNX,
TorchScript) and explore (the latent-space explorer in a browser)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dcgan.cli.args import Checkpoint, add_verb
from dcgan.options import opt
from dcgan.options_tools import ExploreConfig, ExportConfig, export_format


@dataclass
class ExportArgs:
    model: Checkpoint
    config: ExportConfig
    out: str = opt(
        "",
        "output file: .safetensors, .onnx, .pt (TorchScript) or .pth (pytorch-examples)",
        required=True,
    )


@dataclass
class ExploreArgs:
    model: Checkpoint
    config: ExploreConfig


def cmd_export(a: ExportArgs) -> None:
    export_format(a.out, a.config.format)  # a bad --out is refused before torch loads
    from dcgan.export import CHECK_SEEDS, TOLERANCE, export

    m = a.model
    result = export(m.checkpoint, a.out, a.config, bn=m.bn, ema=not m.no_ema)
    meta = result.metadata["model"]
    print(
        f"{result.format} generator ({meta['size']} px, nz {meta['nz']}, BatchNorm frozen at "
        f"'{result.metadata['bn']}') written to {result.path}; max abs diff vs PyTorch on "
        f"{len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e} (< {TOLERANCE:g})"
    )


def cmd_explore(a: ExploreArgs) -> None:
    from dcgan.explore import Engine, make_server

    m = a.model
    engine = Engine(m.checkpoint, a.config, bn=m.bn, ema=not m.no_ema)
    server = make_server(engine, a.config)
    host, port = server.server_address[:2]
    print(f"dcgan explore: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "export",
        ExportArgs,
        cmd_export,
        "write the generator as safetensors, ONNX or TorchScript",
    )
    add_verb(
        verbs,
        "explore",
        ExploreArgs,
        cmd_explore,
        "a latent-space explorer in the browser (local server)",
    )
