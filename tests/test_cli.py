"""The command line: prepare -> train -> sample round trip, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.cli import main
from dcgan.sampling import load, sample

TRAIN_TINY = [
    "--size",
    "16",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--batch-size",
    "32",
    "--no-progress",
    "--log-every",
    "1",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    assert main(["prepare", "digits", str(tmp / "digits16"), "--size", "16"]) == 0
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp / "digits16"),
                "--steps",
                "4",
                "--ema",
                "0.9",
                "--out",
                str(tmp / "runs"),
                *TRAIN_TINY,
            ]
        )
        == 0
    )
    return next((tmp / "runs").iterdir())


def test_sample_grid_and_per_seed(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["sample", str(run_dir), "--n", "16", "--out", str(tmp_path / "g.png")]) == 0
    grid = Image.open(tmp_path / "g.png")
    assert grid.size == (4 * 18 + 2, 4 * 18 + 2)  # 4x4 tiles of 16 px, 2 px padding
    assert main(["sample", str(run_dir), "--seeds", "3,5-6", "--out", str(tmp_path / "each/")]) == 0
    names = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert names == ["seed000003.png", "seed000005.png", "seed000006.png"]
    assert np.asarray(Image.open(tmp_path / "each" / "seed000005.png")).shape == (16, 16)


@pytest.mark.parametrize("bn", ["batch", "running"])
def test_same_seed_same_image_whatever_the_batch(run_dir: Path, bn: str) -> None:
    model = load(run_dir)
    a = sample(model, seeds=[7, 1, 2, 3], bn=bn)
    b = sample(model, seeds=[9, 7], bn=bn)
    torch.testing.assert_close(a[0], b[1])
    assert not torch.equal(a[0], a[1])


def test_interpolate_writes_strip(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "walk.png"
    assert (
        main(
            [
                "interpolate",
                str(run_dir),
                "--seeds",
                "1,2,3",
                "--steps",
                "4",
                "--out",
                str(out),
                "--slerp",
            ]
        )
        == 0
    )
    # One row per segment, both ends shown: 2 rows of 5 images; a GIF of the 9 frames beside it.
    assert Image.open(out).size == (5 * 18 + 2, 2 * 18 + 2)
    assert Image.open(out.with_suffix(".gif")).n_frames == 9


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--data", "/no/such/dir", "--steps", "1"], "/no/such/dir"),
        (["train", "--data", "digits", "--size", "48", "--steps", "1"], "not supported"),
        (["train", "--data", "digits", "--z-dist", "cauchy"], "z_dist"),
        (["prepare", "digits", "x", "--format", "nonsense"], "nonsense"),
        (["sample", "/no/such.pt"], "not found"),
        (["train", "--size"], "expected one argument"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_one_line_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    r = cli(*args, *(["--cache", str(tmp_path)] if args[0] == "train" and len(args) > 2 else []))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_corrupt_checkpoint_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    r = cli("sample", str(bad), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "not a readable checkpoint" in r.stderr


def test_unwritable_output_file_path(run_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a directory is needed: fails even for root
    r = cli("sample", str(run_dir), "--n", "4", "--out", str(blocker / "g.png"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_help_lists_defaults() -> None:
    r = cli("train", "--help")
    assert r.returncode == 0 and "--batch-size" in r.stdout and "128" in r.stdout
    assert "--lr" in r.stdout and "0.0002" in r.stdout


def test_grid_keeps_pixel_values() -> None:
    from dcgan.sampling import grid_image

    images = torch.full((4, 1, 16, 16), -1.0)
    images[1] = 1.0
    grid = np.asarray(grid_image(images, nrow=2, padding=2))
    assert grid[2, 2].tolist() == [0, 0, 0]  # black stays black
    assert grid[2, 20].tolist() == [255, 255, 255]  # white stays white
    assert grid[0, 0].tolist() == [255, 255, 255]  # white gutter
