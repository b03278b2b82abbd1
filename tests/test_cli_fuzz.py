"""A fixed-seed fuzz of the command line: a few hundred random argument sets over every verb
(zero, negative, huge, NaN, inf, empty, unicode, missing and odd paths) must each end with
exit 0 or a one-line error and exit 2, never a traceback.

Verbs that are quick on a tiny model run for real; the others (training, servers, detector
and classifier runs) are fuzzed up to their checks: parsing and building the verb's
dataclass, which is where every flag is validated."""

from __future__ import annotations

import dataclasses
import random
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from dcgan.cli import main, parser
from dcgan.cli.args import build_dataclass, fields, flag
from dcgan.errors import DcganError
from dcgan.options import choices

SEED = 20
CASES = 300
RUN = {"sample", "sheet", "interpolate", "arithmetic", "report", "export", "neighbors", "visualize"}

INTS = ["0", "-1", "1", "2", "3", "99999999999999999999", "9" * 400, "nan", "", "\u0663", "1e3"]
FLOATS = ["0", "-1", "0.5", "1", "nan", "inf", "-inf", "1e308", "", "\u00bd"]
LISTS = ["1,2", "0", "-1,5", "", "a,b", "3,", "99999999999"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """A tiny trained run, and odd paths: missing, empty, a text file, a folder, odd arrays."""
    from conftest import train_tiny

    tmp = tmp_path_factory.mktemp("fuzz")
    run = train_tiny(tmp)
    (tmp / "text.txt").write_text("not a checkpoint or a dataset\n")
    (tmp / "folder").mkdir()
    np.savez(tmp / "flat.npz", x=np.zeros((40, 16, 16), np.uint8))  # images all alike
    np.save(tmp / "line.npy", np.arange(30, dtype=np.uint8))  # not images at all
    paths = [run, tmp / "missing", "", tmp / "text.txt", tmp / "folder", tmp / "flat.npz"]
    return {
        "run": str(run),
        "cache": str(tmp / "cache"),
        "paths": [str(p) for p in [*paths, tmp / "line.npy"]],
    }


def value(rng: random.Random, name: str, kind: typing.Any, world: dict) -> str:
    """A random value for a flag of type `kind`: often odd, sometimes fine."""
    allowed = choices(kind)
    if allowed:
        return str(rng.choice([*allowed, "bogus", ""]))
    base = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]
    base = base[0]
    if typing.get_origin(base) is tuple:
        return rng.choice(LISTS)
    if base is int:
        return rng.choice(INTS)
    if base is float:
        return rng.choice(FLOATS)
    if name == "out":
        return rng.choice(["o.png", "dir/", "x.jpg", "g.onnx", "g.safetensors", "", "\u00e9"])
    if name == "cache":
        return world["cache"]
    if name == "data":
        return rng.choice(["digits", *world["paths"], "\u2603"])
    if name in "ABCDE" or name == "seeds":
        return rng.choice(["1,2", "0-3", "5-2", "", "x", "-1", "3-", "0-99999999999"])
    if name == "expression":
        return rng.choice(["A - B + C", "A + F", "", "A--B", "\u00c4"])
    return rng.choice([*world["paths"], "\u00fc", "-"])


def argv_for(rng: random.Random, verb: str, spec: type, world: dict) -> list[str]:
    argv = [verb]
    for f, kind in fields(spec):
        positional = f.metadata.get("positional")
        if positional:
            if f.name in ("checkpoint", "run_dir"):
                argv.append(rng.choice([world["run"]] * 3 + world["paths"]))
            else:
                argv.append(value(rng, f.name, kind, world))
            continue
        if rng.random() > 0.25 and not f.metadata.get("required"):
            continue
        if kind is bool:
            argv.append(flag(f))
        elif typing.get_origin(kind) is list:
            argv += [flag(f), rng.choice(world["paths"])]
        else:
            argv += [flag(f), value(rng, f.name, kind, world)]
    if verb == "neighbors":  # keep the real runs small where the flag is not fuzzed
        argv += ["--ratio-samples", "20", "--held-out", "20"]
    return argv


def invoke(argv: list[str], run: bool) -> int:
    """main(argv), or for a slow verb, everything main does before the verb's work."""
    try:
        if run:
            return main(argv)
        args = parser().parse_args(argv)
        build_dataclass(args.spec, args, argv=tuple(argv))
        return 0
    except SystemExit as e:
        return e.code
    except DcganError as e:  # as main reports it
        print(f"dcgan: error: {e}", file=sys.stderr)
        return 2


def test_fuzz_every_verb(world: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # relative --out values land here
    rng = random.Random(SEED)
    verbs = parser()._subparsers._group_actions[0].choices
    specs = {name: p.get_default("spec") for name, p in verbs.items()}
    assert all(dataclasses.is_dataclass(s) for s in specs.values())
    failures = []
    for i in range(CASES):
        verb = sorted(specs)[i % len(specs)]
        argv = argv_for(rng, verb, specs[verb], world)
        run = verb in RUN and "--auto" not in argv and "--compile" not in argv
        try:
            code = invoke(argv, run)
        except Exception as e:  # a traceback: what this test exists to find
            code = f"{type(e).__name__}: {e}"
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        if code not in (0, 2) or "Traceback" in err or (code == 2 and len(lines) != 1):
            failures.append(f"{argv!r} -> {code} {err.strip()[:300]!r}")
    assert not failures, f"{len(failures)} of {CASES} failed:\n" + "\n".join(failures)
