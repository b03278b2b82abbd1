"""One vocabulary for flags (issue 25): the table in docs/cli.md gives each flag one meaning
and type and lists the verbs that use it; every verb's flags must agree with it. Renamed
flags stay accepted for one release, with one warning line."""

from __future__ import annotations

import argparse
import re
import typing
import warnings
from pathlib import Path
from typing import Any

import pytest

from dcgan.cli import main, parser
from dcgan.cli.args import _base, fields, flag, old_flags
from dcgan.options import choices

TABLE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def vocabulary() -> dict[str, tuple[str, set[str]]]:
    """{flag: (type, verbs)} from the table after the `vocabulary` marker."""
    text = TABLE.read_text(encoding="utf-8").split("<!-- vocabulary", 1)[1]
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`--"):
            continue
        names = re.findall(r"`(--[\w-]+)`", cells[0])
        if "…" in cells[0]:  # `--A` … `--E`
            first, last = names[0][2:], names[-1][2:]
            names = [f"--{chr(c)}" for c in range(ord(first), ord(last) + 1)]
        verbs = {v.strip() for v in cells[3].split(",")}
        for name in names:
            assert name not in out, f"{name} is in the table twice"
            out[name] = (cells[2], verbs)
    return out


def kind_of(kind: Any) -> str:
    """A field's type in the table's words."""
    base = _base(kind)
    if kind is bool:
        return "switch"
    if choices(kind):
        return "choice"
    if typing.get_origin(base) is tuple:
        return "numbers"
    if typing.get_origin(base) is list:
        return "texts"
    return {int: "count", float: "number", str: "text"}[base]


def verb_flags() -> dict[str, dict[str, str]]:
    """{verb: {flag: type}} of every registered verb."""
    top = parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for verb, p in action.choices.items():
        spec = p.get_default("spec")
        out[verb] = {
            flag(f): kind_of(kind) for f, kind in fields(spec) if not f.metadata.get("positional")
        }
    return out


def test_every_flag_is_in_the_vocabulary_with_its_type_and_verb() -> None:
    table, problems = vocabulary(), []
    for verb, flags in verb_flags().items():
        for name, kind in flags.items():
            if name not in table:
                problems.append(f"{verb} {name}: not in docs/cli.md")
                continue
            want, verbs = table[name]
            if verb not in verbs:
                problems.append(f"{verb} {name}: the table does not list {verb} (another meaning?)")
            if kind != want and not (want == "number" and kind == "count"):
                problems.append(f"{verb} {name}: {kind}, the table says {want}")
    assert not problems, "\n".join(problems)


def test_the_vocabulary_lists_no_stale_flag_or_verb() -> None:
    used: dict[str, set[str]] = {}
    for verb, flags in verb_flags().items():
        for name in flags:
            used.setdefault(name, set()).add(verb)
    for name, (_, verbs) in vocabulary().items():
        assert name in used, f"{name} is in docs/cli.md but no verb has it"
        assert verbs == used[name], f"{name}: the table lists {verbs}, the verbs are {used[name]}"


def test_spelling_is_american() -> None:
    for flags in verb_flags().values():
        for name in flags:
            assert not re.search(r"alise|isation|standardis|neighbour|colour", name), name


def test_old_flags_do_not_shadow_current_ones() -> None:
    top = parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for verb, p in action.choices.items():
        olds = old_flags(p.get_default("spec"))
        assert not set(olds) & set(verb_flags()[verb]), verb


@pytest.mark.parametrize(
    ("argv", "old", "new"),
    [
        (["interpolate", "RUN", "--slerp"], "--slerp", "--spherical"),
        (["interpolate", "RUN", "--steps", "3"], "--steps", "--segment-steps"),
        (["neighbors", "RUN", "--data", "d", "--stats=9"], "--stats", "--ratio-samples"),
        (["forget", "RUN", "--renormalise"], "--renormalise", "--renormalize"),
        (["arithmetic", "RUN", "--neighbours", "4"], "--neighbours", "--neighbors"),
        (["visualize", "RUN", "--data", "d", "--n", "2"], "--n", "--images"),
        (["evaluate", "RUN", "--json", "r.json"], "--json", "--out"),
        (["export", "RUN", "--out", "g.onnx", "--format", "onnx"], "--format", "--out-format"),
        (["classify", "RUN", "--data", "d", "--bn", "batch"], "--bn", "--feature-bn"),
        (["dedup", "SRC", "--out", "o", "--noise", "0.2"], "--noise", "--input-noise"),
    ],
)
def test_an_old_flag_is_accepted_with_one_warning(argv, old, new, capsys, monkeypatch) -> None:
    seen = {}

    def stop(spec: type, args: argparse.Namespace, **extra: Any) -> None:
        seen["args"] = args
        raise SystemExit(0)  # parsed: the verb itself is not run

    monkeypatch.setattr("dcgan.cli.build_dataclass", stop)
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dcgan: warning: {old} is deprecated, use {new}"]
    assert "args" in seen


def test_an_old_keyword_of_the_api_warns_and_works() -> None:
    from dcgan.experiments.options import NeighborsConfig
    from dcgan.options import configure

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = configure(NeighborsConfig, None, {"n_stats": 40})
    assert c.ratio_samples == 40
    assert [str(w.message) for w in caught] == ["n_stats= is deprecated, use ratio_samples="]
    assert all(w.category is DeprecationWarning for w in caught)
