"""Every verb's options agree between the command line and the Python API: the same defaults,
and each bad value refused by both (the CLI in one line with exit code 2, the API with a
DcganError), because both read one dataclass (issue 25)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest

from dcgan.cli import main, parser
from dcgan.cli.args import _base, build_dataclass, flag
from dcgan.errors import DcganError
from dcgan.options import choices

CHECKPOINT = ("checkpoint", "bn", "no_ema")  # which generator a verb reads (cli.args.Checkpoint)
SOURCE = ("source", "out", "format", "key", "split")  # what a dataset tool reads (cli.args.Source)

# verb -> (its API functions, "module:name"; the CLI fields that are not options of the API:
# inputs and outputs the verb opens, writes or prints). Every other field must be an API
# option with the same default.
API: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prepare": (("dcgan.data.prepare:prepare",), ("source", "out")),
    "train": (("dcgan.training:train",), ("resume", "nproc")),
    "sample": (("dcgan.sampling:sample",), (*CHECKPOINT, "seeds", "out", "force")),
    "convert": (
        ("dcgan.convert:convert", "dcgan.torch_examples:convert_examples"),
        ("source", "out"),
    ),
    "interpolate": (("dcgan.experiments.latent:interpolate",), (*CHECKPOINT, "seeds", "out")),
    "sheet": (("dcgan.experiments.latent:sheet",), (*CHECKPOINT, "seeds", "out")),
    "arithmetic": (
        ("dcgan.experiments.latent:arithmetic",),
        (*CHECKPOINT, "expression", "auto", "test_n", "A", "B", "C", "D", "E", "out"),
    ),
    "turn": (("dcgan.experiments.latent:turn",), (*CHECKPOINT, "out")),
    "project": (("dcgan.experiments.project:project",), (*CHECKPOINT, "images", "out")),
    "neighbors": (("dcgan.experiments.neighbors:neighbors",), (*CHECKPOINT, "data", "out")),
    "forget": (
        ("dcgan.experiments.forget:forget",),
        (*CHECKPOINT, "boxes", "auto", "n", "detect", "test_n", "out"),
    ),
    "visualize": (("dcgan.experiments.visualize:visualize",), (*CHECKPOINT, "data", "out")),
    "dedup": (("dcgan.experiments.dedup:dedup",), (*SOURCE, "model", "clean_size", "workers")),
    "faces": (("dcgan.experiments.faces:faces",), (*SOURCE, "out_format")),
    "evaluate": (
        ("dcgan.metrics.evaluate:evaluate",),
        (*CHECKPOINT, "out", "train_extractor", "extractor_out", "extractor_epochs"),
    ),
    "report": (("dcgan.report:write_report",), ("run_dir",)),
    "doctor": (("dcgan.doctor:diagnose",), ("run_dir",)),
    "classify": (("dcgan.experiments.classify:classify",), ()),
    "export": (("dcgan.export:export", "dcgan.pretrained:save_pretrained"), (*CHECKPOINT, "out")),
    "pull": (("dcgan.pull:pull",), ("name",)),
    "explore": (
        ("dcgan.explore.engine:Engine", "dcgan.explore.server:make_server"),
        CHECKPOINT,
    ),
}


def verbs() -> dict[str, argparse.ArgumentParser]:
    top = parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def api(verb: str) -> list[Callable]:
    out = []
    for path in API[verb][0]:
        module, name = path.split(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def leaves(cls: type) -> list[tuple[type, dataclasses.Field, Any]]:
    """(owning dataclass, field, type) of every option of `cls`, nested ones flattened."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.extend(leaves(hints[f.name]))
        elif f.init and not f.metadata.get("internal"):
            out.append((cls, f, hints[f.name]))
    return out


def minimal_argv(verb: str, spec: type) -> list[str]:
    """The verb with only what it requires."""
    argv = [verb]
    for _, f, _ in leaves(spec):
        if f.metadata.get("positional") and not f.metadata.get("optional"):
            argv.append("X")
        elif f.metadata.get("required"):
            argv += [flag(f), "X"]
    return argv


def cli_values(verb: str) -> dict[str, Any]:
    p = verbs()[verb]
    spec = p.get_default("spec")
    argv = minimal_argv(verb, spec)
    args = parser().parse_args(argv)
    built = build_dataclass(spec, args, argv=tuple(argv))

    def flat(obj: Any) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            out.update(flat(value) if dataclasses.is_dataclass(value) else {f.name: value})
        return out

    return flat(built)


def is_options(t: Any) -> bool:
    """A dataclass of options: every field declared with `opt` (a help text)."""
    return dataclasses.is_dataclass(t) and all("help" in f.metadata for f in dataclasses.fields(t))


def config_classes(func: Callable) -> list[type]:
    hints = typing.get_type_hints(func.__init__ if inspect.isclass(func) else func)
    return [t for kind in hints.values() for t in (kind, *typing.get_args(kind)) if is_options(t)]


def api_defaults(verb: str) -> dict[str, Any]:
    """Each API option's default: a verb dataclass's field, or a keyword argument's default."""
    out: dict[str, Any] = {}
    for func in api(verb):
        for cls in config_classes(func):
            for _, f, _ in leaves(cls):
                out[f.name] = cli_default(f)
        for p in inspect.signature(func).parameters.values():
            if p.default is not inspect.Parameter.empty and p.kind != p.VAR_KEYWORD:
                out.setdefault(p.name, p.default)
            elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                out.setdefault(p.name, REQUIRED)
    return out


REQUIRED = object()  # an input the API requires: the CLI's default does not apply


def cli_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def bad_value(f: dataclasses.Field, kind: Any) -> str | None:
    """A value the field's check or choices refuse, as typed on the command line."""
    if choices(kind):
        return "bogus"
    check = f.metadata.get("check")
    if check is None:
        return None
    for candidate in (-1, 0, 7, 10**13, 2**40, -(10**13)):
        try:
            check("x", candidate)
        except DcganError:
            return str(candidate)
    return "nan"  # a check that takes every finite number


def test_every_verb_is_listed() -> None:
    assert set(verbs()) == set(API)


@pytest.mark.parametrize("verb", sorted(API))
def test_cli_and_api_defaults_agree(verb: str) -> None:
    cli, defaults = cli_values(verb), api_defaults(verb)
    spec = verbs()[verb].get_default("spec")
    required = {f.name for _, f, _ in leaves(spec) if f.metadata.get("required")}
    required |= {f.name for _, f, _ in leaves(spec) if f.metadata.get("positional")}
    cli_only = set(API[verb][1]) | required
    for name, value in cli.items():
        if name in cli_only or name == "argv":
            continue
        assert name in defaults, f"{verb}: --{name} is no option of the API (or list it)"
        if defaults[name] is not REQUIRED:
            assert defaults[name] == value, f"{verb} {name}: API {defaults[name]!r}, CLI {value!r}"


@pytest.mark.parametrize("verb", sorted(API))
def test_the_api_restates_no_option(verb: str) -> None:
    """An API taking a verb dataclass has no keyword argument of the same name beside it
    (which would be a second default and a second check). A positional-only parameter
    defaulting to None, such as prepare's size, only spells the field by position."""
    for func in api(verb):
        names = {f.name for cls in config_classes(func) for _, f, _ in leaves(cls)}
        assert names, f"{verb}: {func.__name__} takes no options dataclass"
        params = {
            p.name
            for p in inspect.signature(func).parameters.values()
            if not (p.kind == p.POSITIONAL_ONLY and p.default is None)
        }
        assert not names & params, f"{verb}: {func.__name__} restates {names & params}"


@pytest.mark.parametrize("verb", sorted(API))
def test_no_check_is_lost(verb: str) -> None:
    """Every field of the API's options dataclasses has its refusal tried both ways below:
    none is listed as the command line's alone, where the API's check would go untested."""
    options = {
        f.name for func in api(verb) for cls in config_classes(func) for _, f, _ in leaves(cls)
    }
    assert not options & set(API[verb][1]), f"{verb}: {options & set(API[verb][1])} are API options"


def bad_cases() -> list[tuple[str, str, str]]:
    cases = []
    for verb, p in verbs().items():
        for _, f, kind in leaves(p.get_default("spec")):
            bad = bad_value(f, kind)
            if bad is not None and f.name != "argv":
                cases.append((verb, f.name, bad))
    return cases


@pytest.mark.parametrize(("verb", "name", "bad"), bad_cases())
def test_both_refuse_a_bad_value(verb: str, name: str, bad: str, capsys, tmp_path) -> None:
    spec = verbs()[verb].get_default("spec")
    owner, f, kind = next(leaf for leaf in leaves(spec) if leaf[1].name == name)
    argv = minimal_argv(verb, spec)
    if f.metadata.get("positional"):
        argv = [verb, bad] + argv[2:] if argv[1:2] == ["X"] else [*argv, bad]
    else:
        argv += [flag(f), bad]
    with pytest.raises(SystemExit) if choices(kind) else _no_exit():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0], err
    if name in API[verb][1]:
        return  # an option of the command line only
    value = _typed(bad, kind)
    with pytest.raises(DcganError, match=name) as refused:
        func = api(verb)[0]
        params = inspect.signature(func).parameters.values()
        if any(p.kind == p.VAR_KEYWORD for p in params):
            positional = (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            required = [p for p in params if p.default is p.empty and p.kind in positional]
            func(*[None] * len(required), **{name: value})
        else:  # the API takes the dataclass itself, which checks as it is built
            owner(**{name: value})
    if not choices(kind):  # no check is lost: both apply the field's own rule, word for word
        rule = str(refused.value).split(" must ", 1)[1]
        assert err[0].endswith(f" must {rule}"), (err[0], str(refused.value))


class _no_exit:
    """A context that lets a SystemExit of argparse fail the test."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def _typed(text: str, kind: Any) -> Any:
    if choices(kind):
        return text
    base = _base(kind)
    if typing.get_origin(base) is tuple:  # as the command line reads it: 1 of floats is 1.0
        return (typing.get_args(base)[0](text),)
    return float(text) if base is float else int(text)
