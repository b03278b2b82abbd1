"""The wheel stands alone: built from the sources, installed into a fresh venv outside the
repository, it pulls the DigiFace model from a local copy, samples and serves the explorer
with its own package data (the explorer's page and scripts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What setuptools needs to build the wheel; copying them keeps build/ and *.egg-info out of
# the checkout and leaves untracked files out, as on a clean clone.
SOURCES = ["src", "pyproject.toml", "README.md", "LICENSE"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A venv holding only the wheel; its dependencies come from this venv's site-packages
    as a plain path (its .pth files, among them the editable install's, are not read)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            caches = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=caches)
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work), str(source)], work)
    (wheel,) = work.glob("dcgan-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work)
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], work)
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = run([str(python), "-c", ask], work)
    Path(purelib.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stderr[-2000:]}"
    return done.stdout


def test_the_installed_package_is_the_wheel(fresh: Path, tmp_path: Path) -> None:
    python = str(fresh / "bin" / "python")
    where = run([python, "-c", "import dcgan; print(dcgan.__file__)"], tmp_path)
    assert Path(where.strip()).is_relative_to(fresh), where
    assert "prepare" in run([str(fresh / "bin" / "dcgan"), "--help"], tmp_path)


def test_pull_sample_and_explore_from_the_wheel(fresh: Path, shared: Path, tmp_path: Path) -> None:
    dcgan = str(fresh / "bin" / "dcgan")
    copy = shared / "pretrained" / "digiface64_dcgan"
    cache = tmp_path / "cache"
    pull = [dcgan, "pull", "digiface64", "--from", str(copy), "--cache", str(cache)]
    package = run(pull, tmp_path).strip()
    assert Path(package, "model.safetensors").is_file()

    run([dcgan, "sample", package, "--seeds", "0,1,2,3", "--out", "grid.png"], tmp_path)
    assert (tmp_path / "grid.png").stat().st_size > 1000

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen(
        [dcgan, "explore", package, "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("dcgan explore: http://"), server.stderr.read()
        url = line.split()[2].rstrip("/")
        with urllib.request.urlopen(url + "/", timeout=30) as page:
            assert b"explore.js" in page.read()
        with urllib.request.urlopen(url + "/explore.js", timeout=30) as script:
            assert b"/api/samples" in script.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
