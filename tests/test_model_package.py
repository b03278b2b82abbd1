"""The model package (dcgan.package): written by `export --out-format package` and
`save_pretrained`, read by `dcgan.load` and so by every verb, bit-exactly, never unpickling;
its model card; and bad folders refused in one line."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from conftest import train_tiny
from test_cli import one_line_error, run_cli

from dcgan import DcganError, load, sample, save_pretrained
from dcgan.cli import main
from dcgan.export import export
from dcgan.package import CARD, CONFIG, GRID, WEIGHTS
from dcgan.pretrained import train_command

pytest.importorskip("safetensors")
SEEDS = [0, 3, 9, 11]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 16 px grey model of 3 steps with G's EMA and an evaluation row at its last step
    (written here as training writes it, without the metrics extra's Inception)."""
    run = train_tiny(tmp_path_factory.mktemp("package"), ema=0.9)
    row = {"step": 3, "epoch": 0.1, "eval": "kid", "kid_mean": 0.0123, "kid_std": 0.001}
    with open(run / "stats.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    return run


def images(model, bn: str = "batch") -> torch.Tensor:
    return sample(model, seeds=SEEDS, bn=bn)


def test_round_trip_is_bit_exact_and_never_unpickles(tiny: Path, tmp_path: Path, monkeypatch):
    result = export(tiny, tmp_path / "pkg", format="package")
    assert result.max_abs_diff == 0.0
    assert {p.name for p in (tmp_path / "pkg").iterdir()} == {CONFIG, WEIGHTS, CARD, GRID}

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    package = load(tmp_path / "pkg")
    monkeypatch.undo()
    run = load(tiny)
    assert package.ema and package.discriminator is not None
    assert package.config.model == run.config.model and package.config.ema == run.config.ema
    for bn in ("batch", "running"):
        assert torch.equal(images(package, bn), images(run, bn))
    for name, value in run.discriminator.state_dict().items():
        assert torch.equal(package.discriminator.state_dict()[name], value)


def test_save_pretrained_without_ema_and_repackaged(tiny: Path, tmp_path: Path) -> None:
    save_pretrained(tiny, tmp_path / "raw", ema=False, license="mit")
    raw = load(tmp_path / "raw", ema=False)
    assert not raw.ema and torch.equal(images(raw), images(load(tiny, ema=False)))
    save_pretrained(raw, tmp_path / "again")  # a package of a package: the same tensors
    assert torch.equal(images(load(tmp_path / "again", ema=False)), images(raw))
    with pytest.raises(DcganError, match="keeps G's EMA only"):
        load(save_pretrained(tiny, tmp_path / "ema"), ema=False)


def test_the_card_has_header_samples_command_metrics_and_citation(tiny: Path, tmp_path: Path):
    out = save_pretrained(tiny, tmp_path / "card", license="mit")
    text = (out / CARD).read_text()
    header = text.split("---\n")[1]
    assert 'library_name: "dcgan"' in header and 'license: "mit"' in header
    assert '- "digits"' in header and '- "kid"' not in header  # metrics list their types
    assert 'type: "kid_mean"' in header and "value: 0.0123" in header
    assert 'extractor: "inception"' in header and "n: 2000" in header
    assert "![64 samples, seeds 0-63](samples.png)" in text
    assert train_command(load(tiny).config) in text
    assert "--ema 0.9" in train_command(load(tiny).config)
    assert "| kid_mean | 0.0123 | 2000 | inception |" in text
    assert "@inproceedings{radford2016dcgan" in text
    about = json.loads((out / CONFIG).read_text())
    assert about["z_dist"] == "uniform" and about["bn"] == "batch" and about["ema"] is True
    assert about["train"]["data"] == "digits" and "out" not in about["train"]


def test_every_verb_reads_a_package(tiny: Path, tmp_path: Path, capsys) -> None:
    pkg = tmp_path / "pkg"
    code = main(["export", str(tiny), "--out-format", "package", "--out", str(pkg)])
    assert code == 0 and "images equal the checkpoint's" in capsys.readouterr().out
    assert main(["sample", str(pkg), "--n", "4", "--out", str(tmp_path / "g.png")]) == 0
    out = tmp_path / "g.safetensors"
    assert main(["export", str(pkg), "--out", str(out)]) == 0
    assert main(["interpolate", str(pkg), "--out", str(tmp_path / "walk.png")]) == 0


def test_bad_package_folders_are_one_line(tiny: Path, tmp_path: Path, capsys) -> None:
    code, err = run_cli(capsys, "export", str(tiny), "--out-format", "package", "--out", str(tiny))
    one_line_error(code, err, "is a run directory, not a model package")
    pkg = save_pretrained(tiny, tmp_path / "pkg")
    (pkg / CONFIG).write_text("{not json")
    one_line_error(*run_cli(capsys, "sample", str(pkg)), "config.json is not readable JSON")
    pkg = save_pretrained(tiny, tmp_path / "pkg2")
    (pkg / WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    one_line_error(*run_cli(capsys, "sample", str(pkg)), "model.safetensors is not")
    pkg = save_pretrained(tiny, tmp_path / "pkg3")
    about = json.loads((pkg / CONFIG).read_text())
    about["model"]["ngf"] = 16
    (pkg / CONFIG).write_text(json.dumps(about))
    one_line_error(*run_cli(capsys, "sample", str(pkg)), "weights do not match its config")
