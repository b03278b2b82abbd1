"""`dcgan export`: safetensors, ONNX and TorchScript round trips, frozen BatchNorm, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny

from dcgan import DcganError, Generator
from dcgan.cli import main
from dcgan.export import export, load_safetensors, load_torchscript, onnx_metadata
from dcgan.sampling import generate, load, sample, z_from_seeds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 16 px grey model trained for 3 steps (G, D and G's EMA)."""
    return train_tiny(tmp_path_factory.mktemp("export"), ema=0.9)


SEEDS = [0, 5, 7]


def test_safetensors_loads_back_without_pickle(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    result = export(tiny, tmp_path / "g.safetensors", format="safetensors")
    assert result.max_abs_diff == 0.0
    assert result.metadata["model"]["size"] == 16 and result.metadata["ema"] is True

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    g, meta = load_safetensors(tmp_path / "g.safetensors")
    monkeypatch.undo()
    assert isinstance(g, Generator) and g.config == load(tiny).generator.config
    assert meta["bn"] == "batch" and meta["z_dist"] == "uniform"
    # Frozen reference-batch statistics: running mode of the export = batch mode of the run.
    z = z_from_seeds(SEEDS, 100)
    torch.testing.assert_close(generate(g, z, bn="running"), sample(load(tiny), seeds=SEEDS))


def test_onnx_dynamic_batch_one_seed_one_image(tiny: Path, tmp_path: Path) -> None:
    import onnxruntime

    result = export(tiny, tmp_path / "g.onnx", format="onnx")
    assert result.max_abs_diff < 1e-4
    assert onnx_metadata(tmp_path / "g.onnx")["model"]["nz"] == 100
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    z = z_from_seeds(SEEDS, 100).numpy()
    batch = session.run(["images"], {"z": z})[0]
    assert batch.shape == (3, 1, 16, 16)
    alone = session.run(["images"], {"z": z[1:2]})[0]  # batch of one: the axis is dynamic
    np.testing.assert_allclose(alone[0], batch[1], atol=1e-6)
    np.testing.assert_allclose(batch, sample(load(tiny), seeds=SEEDS).numpy(), atol=1e-4)


def test_torchscript_round_trip_no_ema(tiny: Path, tmp_path: Path) -> None:
    result = export(tiny, tmp_path / "g.pt", format="torchscript", bn="running", ema=False)
    assert result.max_abs_diff == 0.0
    module, meta = load_torchscript(tmp_path / "g.pt")
    assert meta["ema"] is False and meta["bn"] == "running"
    z = z_from_seeds(SEEDS, 100)
    expected = sample(load(tiny, ema=False), seeds=SEEDS, bn="running")
    with torch.no_grad():
        torch.testing.assert_close(module(z), expected)


def test_cli_export_prints_diff(tiny: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["export", str(tiny), "--out-format", "onnx", "--out", str(tmp_path / "g.onnx")]) == 0
    )
    assert "max abs diff vs PyTorch" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["corrupt", "missing", "unwritable", "directory", "format"])
def test_cli_export_errors_one_line_exit_2(case: str, tiny: Path, tmp_path: Path, capsys) -> None:
    ckpt, out, fmt = str(tiny), str(tmp_path / "g.safetensors"), "safetensors"
    if case == "corrupt":
        (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
        ckpt = str(tmp_path / "bad.pt")
    elif case == "missing":
        ckpt = str(tmp_path / "nope.pt")
    elif case == "unwritable":
        (tmp_path / "file").write_text("x")
        out = str(tmp_path / "file" / "g.safetensors")
    elif case == "directory":
        out = str(tmp_path)
    else:
        fmt = "tflite"
    with pytest.raises(SystemExit) if case == "format" else _nothing() as e:
        code = main(["export", ckpt, "--out-format", fmt, "--out", out])
    code = e.value.code if case == "format" else code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(DcganError, match="not a dcgan safetensors"):
        load_safetensors(tmp_path / "x.safetensors")
    with pytest.raises(DcganError, match="format must be one of"):
        export(tmp_path, tmp_path / "x", format="tflite")


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> bool:
        return False


def test_failed_check_removes_the_file(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    import dcgan.export as ex

    monkeypatch.setitem(ex.RUNNERS, "safetensors", lambda path, z: torch.zeros(len(z), 1, 16, 16))
    with pytest.raises(DcganError, match="differ from PyTorch"):
        export(tiny, tmp_path / "g.safetensors", format="safetensors")
    assert not (tmp_path / "g.safetensors").exists()
