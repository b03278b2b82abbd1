"""The package's shape: lazy top-level names, one version, no import cycles, optional extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    text = (ROOT / "pyproject.toml").read_text()
    assert "\nversion =" not in text.split("[project]")[1].split("\n[")[0]
    config = setuptools.read_configuration(ROOT / "pyproject.toml", expand=True)
    assert config["project"]["version"] == dcgan.__version__
