"""What every bench shares: where the repository and the shared data are, the machine a
result was measured on, results written as JSON (atomically, with the machine and the
command line), a printed table, small docs figures, and a command line generated from a
dataclass as dcgan's own verbs do (dcgan.cli.args)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, TypeVar

from dcgan.cli.args import add_dataclass_args, build_dataclass
from dcgan.errors import DcganError
from dcgan.io import atomic_write, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
# The shared data sets: $DCGAN_SHARED_DATA, else shared/data beside the checkout (as tests).
SHARED = Path(os.environ.get("DCGAN_SHARED_DATA") or ROOT.parent / "shared" / "data")
CACHE = ROOT / ".cache" / "dcgan"
# Where results go: $DCGAN_BENCH_RESULTS (a trial run that must not touch the committed
# results), else bench/results.
RESULTS = Path(os.environ.get("DCGAN_BENCH_RESULTS") or ROOT / "bench" / "results")

T = TypeVar("T")


def cpu_name() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_model() -> str:
    """The CPU's name and the threads torch uses, as the speed benches print it."""
    import torch

    return f"{cpu_name()}, {torch.get_num_threads()} torch threads"


def machine() -> dict[str, Any]:
    """The machine a result was measured on."""
    import torch

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def command() -> str:
    """The command line that produced a result, as it would be retyped."""
    script = Path(sys.argv[0])
    with_root = script.resolve().is_relative_to(ROOT) if script.name else False
    shown = script.resolve().relative_to(ROOT) if with_root else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def results_path(name: str) -> Path:
    """bench/results/NAME.json (or under $DCGAN_BENCH_RESULTS)."""
    return RESULTS / f"{name}.json"


def write_results(target: str | Path, result: dict | list, indent: int = 2) -> Path:
    """`result` as JSON at `target` (a name under bench/results, or a path), written
    atomically; a table gets `machine` and `command` unless it holds them already (a list,
    one row per item, is written as it is)."""
    path = results_path(target) if isinstance(target, str) and "/" not in target else Path(target)
    record = result
    if isinstance(result, dict):
        record = {**result}
        record.setdefault("machine", machine())
        record.setdefault("command", command())
    atomic_write_text(path, json.dumps(record, indent=indent) + "\n")
    return path


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def shrink(path: Path) -> None:
    """Keep the docs' pictures small: a 256-colour palette PNG, rewritten atomically."""
    from PIL import Image

    image = Image.open(path).convert("RGB").quantize(256)
    atomic_write(path, lambda f: image.save(f, format="PNG", optimize=True))


def parse_args(cls: type[T], doc: str | None, argv: list[str] | None = None) -> T:
    """The script's options, a dataclass whose fields are declared with dcgan.options.opt:
    one flag per field with its help, default and check, as dcgan's verbs have."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    add_dataclass_args(parser, cls)
    try:
        return build_dataclass(cls, parser.parse_args(argv))
    except DcganError as e:
        parser.error(str(e))


def converted(weights: str | Path):
    """A pytorch/examples G file (DigiFace's `weights.tar`), converted as `dcgan convert`
    does and loaded (a dcgan.sampling.Loaded)."""
    import tempfile

    from dcgan.sampling import load
    from dcgan.torch_examples import convert_examples

    with tempfile.TemporaryDirectory() as tmp:
        convert_examples(weights, Path(tmp) / "digiface.pt")
        return load(Path(tmp) / "digiface.pt")
