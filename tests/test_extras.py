"""Optional extras: the core trains and samples without them, and a verb whose extra is
missing says which `pip install "dcgan[...]"` to run, in one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from core_only import PRELUDE

from dcgan.cli import main
from dcgan.errors import DcganError
from dcgan.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter after core_only.PRELUDE: the CLI runs each argument list of
# argv[1] (JSON, with {run} standing for the newest entry of the folder argv[2]) and prints
# their exit codes.
CORE_ONLY = (
    PRELUDE
    + """
import json
from pathlib import Path

from dcgan.cli import main

codes = []
for argv in json.loads(sys.argv[1]):
    run = max(Path(sys.argv[2]).glob("*"), default="")
    codes.append(main([a.replace("{run}", str(run)) for a in argv]))
print(json.dumps(codes))
"""
)


def test_every_extra_is_in_pyproject() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = extras["optional-dependencies"]
    assert set(EXTRAS) | {"dev", "all"} <= set(extras)
    assert {f"dcgan[{name}]" for name in EXTRAS} <= set(extras["all"])
    assert any(req.startswith("opencv-python-headless") for req in extras["faces"])
    assert any(req.startswith("torch-fidelity") for req in extras["metrics"])
    for package in ("onnx", "onnxscript", "onnxruntime", "safetensors"):
        assert any(req.startswith(package) for req in extras["export"])


def test_require_missing_module_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # None in sys.modules: import fails
    with pytest.raises(DcganError, match=r'^cv2 is not installed: pip install "dcgan\[faces\]"$'):
        require("faces", "cv2")
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    monkeypatch.setitem(sys.modules, "torch_fidelity.metric_fid", None)  # if loaded before
    with pytest.raises(
        DcganError, match=r'^torch_fidelity\S* is not installed: pip install "dcgan\[metrics\]"$'
    ):
        require("metrics", "torch_fidelity.metric_fid")
    assert require("export", "json") is json  # present modules are returned
    with pytest.raises(ValueError, match="unknown extra"):
        require("nothing", "json")


def test_require_broken_module_says_why(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "broken_extra_mod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DcganError, match="broken_extra_mod does not import .*no_such_dep"):
        require("export", "broken_extra_mod")


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("cv2", ["faces", "digits", "--out", "{tmp}/faces"], "faces"),
        (
            "onnx",
            ["export", "{tmp}/x.pt", "--out-format", "onnx", "--out", "{tmp}/g.onnx"],
            "export",
        ),
        (
            "safetensors",
            ["export", "{tmp}/x.pt", "--out-format", "safetensors", "--out", "{tmp}/g.safetensors"],
            "export",
        ),
        ("torch_fidelity", ["evaluate", "{tmp}/x.pt"], "metrics"),
        (
            "torch_fidelity",
            ["train", "--eval-every", "2", "--out", "{tmp}/runs", "--cache", "{tmp}/c"],
            "metrics",
        ),
    ],
)
def test_verb_without_its_extra_one_line_exit_2(
    blocked: str, argv: list[str], extra: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    from dcgan.experiments import detect

    detect.cascade.cache_clear()  # a cascade loaded by an earlier test would hide the block
    monkeypatch.setitem(sys.modules, blocked, None)
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err == f'dcgan: error: {blocked} is not installed: pip install "dcgan[{extra}]"\n'
    assert not (tmp_path / "runs").exists()  # refused before any run directory is made
    detect.cascade.cache_clear()


def test_core_install_trains_and_samples(tmp_path: Path) -> None:
    """train + sample + TorchScript export with every extra's modules unfindable; the
    verbs of the extras answer with the install line."""
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    tiny = ["--size", "16", "--channels", "1", "--ngf", "8", "--ndf", "8", "--batch-size", "16"]
    train = ["train", "--data", "digits", "--out", str(runs), *tiny, "--steps", "3"]
    train += ["--cache", str(cache), "--no-progress"]
    sample = ["sample", "{run}", "--n", "4", "--out", str(tmp_path / "grid.png")]
    script = ["export", "{run}", "--out-format", "torchscript", "--out", str(tmp_path / "g.pt")]
    onnx = ["export", "{run}", "--out-format", "onnx", "--out", str(tmp_path / "g.onnx")]
    verbs = json.dumps([train, sample, script, onnx])
    done = subprocess.run(
        [sys.executable, "-c", CORE_ONLY, verbs, str(runs)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, 0, 0, 2], done.stderr
    assert len(list(runs.iterdir())) == 1 and any(runs.rglob("*.pt"))  # a checkpoint
    assert (tmp_path / "grid.png").stat().st_size > 100
    assert (tmp_path / "g.pt").stat().st_size > 1000
    assert 'onnx is not installed: pip install "dcgan[export]"' in done.stderr
