"""The README's quickstart, run as written: its three commands, read from the README itself
(only `~/photos`, the user's own folder, is replaced), with a Ctrl-C and the resume command
the run prints in between."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def quickstart_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quickstart on your own images")[1].split("```bash")[1]
    lines = block.split("```")[0].strip().splitlines()
    return [shlex.split(line, comments=True) for line in lines]


def photos(folder: Path, n: int = 160) -> Path:
    """A folder of small PNGs, as a user's photos would be: scikit-learn's digits."""
    from sklearn.datasets import load_digits

    folder.mkdir()
    for i, digit in enumerate(load_digits().images[:n]):
        pixels = (digit * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").resize((24, 24)).save(folder / f"{i:03d}.png")
    return folder


def sessions(cwd: Path) -> int:
    """Training sessions begun in `cwd`: each opens one TensorBoard event file."""
    return len(list(cwd.glob("runs/*/tensorboard/events.*")))


def run(command: list[str], cwd: Path, stop_after: float | None = None) -> tuple[int, str, str]:
    """Run a `dcgan ...` command; with `stop_after`, Ctrl-C it that many seconds after its
    training loop began."""
    before = sessions(cwd)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcgan", *command[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=cwd,
    )
    if stop_after is not None:
        deadline = time.monotonic() + 300
        while sessions(cwd) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(stop_after)
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def test_the_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    prepare, train, sample = quickstart_commands()
    assert prepare[:2] == ["dcgan", "prepare"] and "~/photos" in prepare
    assert train[:2] == ["dcgan", "train"] and sample[:2] == ["dcgan", "sample"]
    folder = photos(tmp_path / "photos")
    prepare = [str(folder) if arg == "~/photos" else arg for arg in prepare]
    code, out, err = run(prepare, tmp_path)
    assert code == 0, err

    code, out, err = run(train, tmp_path, stop_after=3)  # its 15 minutes, cut short
    assert code == 130 and "finishing this step, then saving a checkpoint" in err, err
    resume = shlex.split(out.splitlines()[-1].removeprefix("resume with: "))
    assert resume == ["dcgan", "train", "--resume", "runs/00000-photos64"]
    first = load_checkpoint(tmp_path / resume[3])["step"]

    code, out, err = run(resume, tmp_path, stop_after=2)
    assert code == 130, err
    ckpt = load_checkpoint(tmp_path / resume[3])
    assert ckpt["step"] > first and ckpt["config"]["time_limit"] == 15
    assert ckpt["config"]["model"]["ngf"] == 32 and ckpt["config"]["ema"] == 0.999

    code, out, err = run(sample, tmp_path)
    assert code == 0, err
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (8 * 64 + 9 * 2, 8 * 64 + 9 * 2)


def section6_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## The paper's §6 on a trained face model")[1].split("```bash")[1]
    return block.split("```")[0].strip().splitlines()


def test_the_readme_section6_starts_with_pull_and_its_verbs_take_the_package(
    tmp_path: Path, shared: Path
) -> None:
    """`M=$(dcgan pull digiface64)` run as written but offline (`--from` the shared data's
    copy, a temporary cache), and every other line run as written on the folder it prints
    (about 35 s, dlib's landmarks included); explore, a server, is only parsed."""
    from dcgan.cli import parser

    pytest.importorskip("dlib", reason="turn and arithmetic --auto need the landmarks extra")
    pull, *rest = section6_commands()
    assignment, command = pull.split("#")[0].strip().split("=", 1)
    assert assignment == "M" and command == "$(dcgan pull digiface64)"
    local = shared / "pretrained" / "digiface64_dcgan"
    argv = [*shlex.split(command[2:-1]), "--from", str(local), "--cache", str(tmp_path / "c")]
    code, out, err = run(argv, tmp_path)
    assert code == 0, err
    package = out.strip()
    assert Path(package, "model.safetensors").is_file()
    for line in rest:
        args = [package if a == "$M" else a for a in shlex.split(line, comments=True)]
        assert args[0] == "dcgan" and package in args
        if args[1] == "explore":
            parser().parse_args(args[1:])
        else:
            code, out, err = run(args, tmp_path)
            assert code == 0, err
    with Image.open(tmp_path / "faces.png") as grid:
        assert grid.size == (8 * 64 + 9 * 2, 8 * 64 + 9 * 2)
    assert (tmp_path / "sheet.png").is_file() and (tmp_path / "turn.png").is_file()
    glasses = json.loads((tmp_path / "arithmetic.glasses.json").read_text())
    assert glasses["rate_with_vector"] > glasses["rate_with_random"]["mean"]
