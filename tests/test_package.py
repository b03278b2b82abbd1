"""The package's shape: lazy top-level names, one version, no import cycles, its licence."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from core_only import PRELUDE

import dcgan

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that imports this checkout's package."""
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# --- lazy imports and the version --------------------------------------------------------


def test_import_dcgan_leaves_torch_unloaded() -> None:
    code = (
        "import sys, dcgan\n"
        "assert dcgan.__file__.startswith(sys.argv[1]), dcgan.__file__\n"
        "dcgan.ModelConfig, dcgan.TrainConfig, dcgan.DcganError, dcgan.__version__\n"
        "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))\n"
    )
    done = run_python(code, str(SRC))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves_to_its_object() -> None:
    from dcgan.models import Generator
    from dcgan.training import train

    assert dcgan.train is train and dcgan.Generator is Generator
    for name in dcgan.__all__:
        assert getattr(dcgan, name) is not None
        assert name in dir(dcgan)
    assert set(dcgan.__all__) == set(dcgan._LAZY) | {"__version__"}
    with pytest.raises(AttributeError, match="no_such_name"):
        dcgan.no_such_name  # noqa: B018


def test_version_is_set_once() -> None:
    setuptools = pytest.importorskip("setuptools.config.pyprojecttoml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    config = setuptools.read_configuration(ROOT / "pyproject.toml", expand=True)
    assert config["project"]["version"] == dcgan.__version__


# --- no import cycles ----------------------------------------------------------------------


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted((SRC / "dcgan").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports: at the top, inside a function (a lazy
    import still ties the two modules together) or for type checkers (a type-only import
    back is a cycle of meaning, if not of execution). The one exception is the package's
    own `__init__`, whose type-checking block only mirrors its lazy public names."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(tree):
            if name == "dcgan" and _type_checking_only(node, parents):
                continue
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from ..x import y, seen from `package`
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    edges.add(sub if sub in modules else base)
        graph[name] = {m for m in edges if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "dcgan.devices" in graph["dcgan.training"]  # a top-level import
    assert "dcgan.training_eval" in graph["dcgan.training"]  # inside a method
    assert (
        "dcgan.experiments.classify.pipeline" in graph["dcgan.experiments.classify.report"]
    )  # types only
    assert graph["dcgan"] == set()  # the lazy public names are no edges


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


ISOLATED = (
    PRELUDE
    + """
import importlib
import json

failed = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "dcgan" or m.startswith("dcgan.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:
        failed[name] = f"{type(e).__name__}: {e}"
print(json.dumps(failed))
"""
)


def test_each_module_imports_alone_without_the_extras() -> None:
    """Each module imported first, in an interpreter where the package is not loaded yet and
    the extras are not installed: an import-order cycle or an extra imported at the top
    fails here."""
    names = [m for m in module_names() if m != "dcgan.__main__"]  # __main__ runs the CLI
    done = run_python(ISOLATED, json.dumps(names))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_the_license_pyproject_names_is_there() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the dcgan authors" in text


# Modules of other owners that still hold their own copy (see dcgan.conventions).
SHARED_RULE_EXCEPTIONS = {"data/arrays.py"}


def test_small_shared_rules_are_written_once() -> None:
    """Pixel conversions, seed parsing and the z prior live in dcgan.conventions only."""
    found = []
    for path in sorted((SRC / "dcgan").rglob("*.py")):
        name = path.relative_to(SRC / "dcgan").as_posix()
        if name == "conventions.py" or name in SHARED_RULE_EXCEPTIONS:
            continue
        text = path.read_text()
        for needle in ("127.5", "def parse_seeds", "def sample_z", "def z_from_seeds"):
            if needle in text:
                found.append(f"{name}: {needle}")
    assert found == []
