"""Outputs: sample and export never replace a checkpoint (or a file of another kind)
without --force, an empty --out is refused, packed datasets get the usual permissions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import train_tiny

from dcgan.cli import main
from dcgan.data.prepare import prepare
from dcgan.io import default_mode, file_kind


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("outputs"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcgan: error:"), err
    return err[0]


def test_sample_refuses_to_overwrite_a_checkpoint(run, tmp_path, capsys):
    ckpt = tmp_path / "ckpt-00000003.pt"
    shutil.copy(run / "latest.pt", ckpt)
    before = ckpt.read_bytes()
    assert main(["sample", str(run), "--n", "4", "--out", str(ckpt)]) == 2
    assert "writes PNG images" in one_line_error(capsys)  # a .pt name is never a grid
    assert ckpt.read_bytes() == before
    disguised = tmp_path / "grid.png"  # a checkpoint under an image's name
    shutil.copy(ckpt, disguised)
    assert main(["sample", str(run), "--n", "4", "--out", str(disguised)]) == 2
    assert "is a PyTorch checkpoint, not an image" in one_line_error(capsys)
    assert disguised.read_bytes() == before
    assert main(["sample", str(run), "--n", "4", "--out", str(disguised), "--force"]) == 0
    assert file_kind(disguised) == "image"


def test_sample_replaces_its_own_kind(run, tmp_path):
    grid = tmp_path / "grid.png"
    for n in (4, 9):
        assert main(["sample", str(run), "--n", str(n), "--out", str(grid)]) == 0
    assert file_kind(grid) == "image"


def test_export_refuses_to_overwrite_a_checkpoint(run, tmp_path, capsys):
    latest = tmp_path / "latest.pt"
    shutil.copy(run / "latest.pt", latest)
    before = latest.read_bytes()
    assert main(["export", str(run), "--out-format", "safetensors", "--out", str(latest)]) == 2
    assert "does not match --out-format safetensors" in one_line_error(capsys)
    assert main(["export", str(run), "--out-format", "torchscript", "--out", str(latest)]) == 2
    assert "is a PyTorch checkpoint" in one_line_error(capsys)
    assert latest.read_bytes() == before
    script = tmp_path / "g.pt"
    for _ in range(2):  # a TorchScript file is replaced by a new one
        assert main(["export", str(run), "--out-format", "torchscript", "--out", str(script)]) == 0
    assert file_kind(script) == "torchscript"
    out = str(tmp_path / "g.safetensors")
    assert main(["export", str(run), "--out-format", "safetensors", "--out", out]) == 0
    assert main(["export", str(run), "--out-format", "safetensors", "--out", out]) == 0
    script_named = tmp_path / "weights.pt"  # safetensors bytes under a TorchScript name
    shutil.copy(out, script_named)
    assert main(["export", str(run), "--out", str(script_named)]) == 2
    assert "is a safetensors file, not a TorchScript model" in one_line_error(capsys)


@pytest.mark.parametrize("verb", ["sample", "export"])
def test_an_empty_out_is_refused(run, tmp_path, monkeypatch, capsys, verb):
    monkeypatch.chdir(tmp_path)
    extra = ["--out-format", "safetensors"] if verb == "export" else ["--n", "2"]
    assert main([verb, str(run), *extra, "--out", ""]) == 2
    assert "empty" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_packed_datasets_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        out = prepare("digits", tmp_path / "packed", 8, progress=False, workers=1, limit=20)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    assert (out / "images.npy").stat().st_mode & 0o777 == 0o644
    assert default_mode(directory=True) == 0o777 & ~old
