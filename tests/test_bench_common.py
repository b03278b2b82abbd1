"""bench/ is a small library of its own: every script imports (nothing runs), shares one
harness for paths, results and arguments, and reaches nothing inside tests/."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py"))


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_bench_script_imports(name: str) -> None:
    importlib.import_module(name)


def test_nothing_in_bench_reaches_into_tests() -> None:
    for path in BENCH.glob("*.py"):
        text = path.read_text()
        assert "sys.path" not in text, path.name
        assert not re.search(r"^\s*(from|import) conftest\b", text, re.M), path.name


def test_one_root_and_one_result_writer() -> None:
    defined = [
        p.name for p in BENCH.glob("*.py") if re.search(r"^(ROOT|SHARED) = ", p.read_text(), re.M)
    ]
    assert defined == ["harness.py"]
    # a result is indented JSON (a small input file for a verb is not): only harness writes one
    writes = re.compile(r"write_text\((\w+, )?json\.dumps\(\w+, indent")
    raw = [p.name for p in BENCH.glob("*.py") if writes.search(p.read_text())]
    raw.remove("harness.py")
    assert raw == []


def test_results_record_the_machine_and_the_command(tmp_path, monkeypatch) -> None:
    import harness

    monkeypatch.setattr(sys, "argv", ["bench/x.py", "--quick"])
    path = harness.write_results(tmp_path / "x.json", {"value": 1})
    saved = json.loads(path.read_text())
    assert saved["value"] == 1 and saved["machine"]["cores"] >= 1
    assert saved["command"].endswith("x.py --quick")
