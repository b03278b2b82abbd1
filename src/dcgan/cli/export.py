"""Verbs that take a trained generator out of training: export (safetensors, ONNX,
TorchScript, a model package), pull (a public model in, as a package) and explore (the
latent-space explorer in a browser)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dcgan.cli.args import Checkpoint, add_verb
from dcgan.options import opt
from dcgan.options_tools import ExploreConfig, ExportConfig, PullConfig, export_format


@dataclass
class ExportArgs:
    model: Checkpoint
    config: ExportConfig
    out: str = opt(
        "",
        "output file: .safetensors, .onnx, .pt (TorchScript) or .pth (pytorch-examples); a"
        " folder with --out-format package or site",
        required=True,
    )


@dataclass
class PullArgs:
    name: str = opt(
        "",
        "a registered model (digiface64, newmu-svhn) or inception (the FID network)",
        positional=True,
    )
    config: PullConfig = opt(factory=PullConfig)


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
    if result.format == "package":
        nets = "G and D" if result.metadata["discriminator"] else "G"
        print(
            f"package ({nets}, {meta['size']} px, nz {meta['nz']}; config.json, "
            f"model.safetensors, README.md, samples.png) written to {result.path}; its images "
            f"equal the checkpoint's on {len(CHECK_SEEDS)} seeds"
        )
        return
    if result.format == "site":
        where = "its own copy" if result.metadata["offline"] else "a CDN"
        print(
            f"static site ({meta['size']} px, seeds 0..{result.metadata['seeds'] - 1}, "
            f"onnxruntime-web from {where}) written to {result.path}; its ONNX model's max abs "
            f"diff vs PyTorch on {len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e}; serve the "
            "folder with any static file server"
        )
        return
    print(
        f"{result.format} generator ({meta['size']} px, nz {meta['nz']}, BatchNorm frozen at "
        f"'{result.metadata['bn']}') written to {result.path}; max abs diff vs PyTorch on "
        f"{len(CHECK_SEEDS)} seeds: {result.max_abs_diff:.2e} (< {TOLERANCE:g})"
    )


def cmd_pull(a: PullArgs) -> None:
    """The package's path alone on stdout (for `dcgan sample $(dcgan pull NAME)`), the
    rest on stderr."""
    import sys

    from dcgan.registry import Asset, entry

    e = entry(a.name)  # an unknown name is refused before torch loads
    from dcgan.package import is_package
    from dcgan.pull import cached, cached_asset, pull

    if isinstance(e, Asset):
        there = cached_asset(e, a.config.cache).is_file()
    else:
        there = is_package(cached(a.name, a.config.cache))
    done = "in the cache already" if there else "pulled"
    path = pull(a.name, a.config)
    print(f"{a.name} ({done}; licence {e.license}): {e.summary}", file=sys.stderr)
    print(path)


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
        "write the generator as safetensors, ONNX or TorchScript, a model package or a static site",
    )
    add_verb(
        verbs,
        "pull",
        PullArgs,
        cmd_pull,
        "a public DCGAN (digiface64, newmu-svhn), checked and converted once into a package",
    )
    add_verb(
        verbs,
        "explore",
        ExploreArgs,
        cmd_explore,
        "a latent-space explorer in the browser (local server)",
    )
