"""Verbs that take a trained generator out of training: export (safetensors, ONNX,
TorchScript) and explore (the latent-space explorer in a browser)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dcgan.cli.args import Checkpoint, add_verb
from dcgan.errors import DcganError
from dcgan.options import count, opt

# The file name extensions of each export format (dcgan.export.FORMATS); the first is the
# one to suggest.
EXTENSIONS = {
    "safetensors": (".safetensors",),
    "onnx": (".onnx",),
    "torchscript": (".pt", ".ts", ".torchscript"),
    "pytorch-examples": (".pth", ".pt"),  # .pt alone means TorchScript: the first match
}


@dataclass
class ExportArgs:
    model: Checkpoint
    out: str = opt(
        "",
        "output file: .safetensors, .onnx, .pt (TorchScript) or .pth (pytorch-examples)",
        required=True,
    )
    format: Literal["safetensors", "onnx", "torchscript", "pytorch-examples"] | None = opt(
        None,
        "file format of --out (default: from its extension)",
        flag="--out-format",
        old=("--format",),
    )
    force: bool = opt(False, "replace an --out of another kind (a checkpoint, say)")


@dataclass
class ExploreArgs:
    model: Checkpoint
    host: str = opt("127.0.0.1", "address to listen on")
    port: int = opt(8000, "port; 0 picks a free one", check=count(65535, low=0))
    direction: list[str] = opt(
        factory=list,
        help="a direction to move along: the JSON of dcgan turn or arithmetic (repeatable)",
        metavar="JSON",
    )


def export_format(out: str, format: str | None) -> str:
    """The format of `--out`: the one given, which its extension must match, or the one its
    extension names."""
    if not out.strip():
        raise DcganError("the output path (--out) is empty: name a file to write")
    suffix = Path(out).suffix.lower()
    named = [f for f, exts in EXTENSIONS.items() if suffix in exts]
    if format is None:
        if not named:
            raise DcganError(
                f"--out {out}: cannot tell the format from its extension; name a .safetensors,"
                " .onnx or .pt file, or give --out-format"
            )
        return named[0]
    if format not in named:
        raise DcganError(
            f"--out {out} does not match --out-format {format}: name a {EXTENSIONS[format][0]} file"
        )
    return format


def cmd_export(a: ExportArgs) -> None:
    format = export_format(a.out, a.format)
    from dcgan.export import CHECK_SEEDS, TOLERANCE, export

    m = a.model
    result = export(m.checkpoint, format, a.out, bn=m.bn, ema=not m.no_ema, force=a.force)
    meta = result.metadata["model"]
    print(
        f"{result.format} generator ({meta['size']} px, nz {meta['nz']}, BatchNorm frozen at "
        f"'{result.metadata['bn']}') written to {result.path}; max abs diff vs PyTorch on "
        f"{len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e} (< {TOLERANCE:g})"
    )


def cmd_explore(a: ExploreArgs) -> None:
    from dcgan.explore import Engine, make_server

    m = a.model
    engine = Engine(m.checkpoint, bn=m.bn, ema=not m.no_ema, directions=a.direction)
    server = make_server(engine, a.host, a.port)
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
