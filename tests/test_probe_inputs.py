"""Inputs an independent probe found mishandled: an empty data source (it meant the current
folder), files that are not regular files (a FIFO blocks open() forever) and archive members
that expand far beyond their size on disk. Each is refused or skipped in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dcgan.cli import main
from dcgan.data.packed import resolve_data
from dcgan.data.prepare import prepare
from dcgan.data.sources import open_source
from dcgan.errors import DcganError


def _png(path: Path, colour: int = 100) -> None:
    Image.new("RGB", (12, 12), (colour, 0, 0)).save(path, "PNG")


# --- an empty source is refused, never taken as the current folder ---------------------------


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_source_is_refused_not_taken_as_the_current_folder(tmp_path, monkeypatch, spec):
    here = tmp_path / "here"
    here.mkdir()
    _png(here / "a.png")
    monkeypatch.chdir(here)
    for call in (
        lambda: prepare(spec, tmp_path / "out", 16, progress=False, workers=1),
        lambda: resolve_data(spec, 16, cache=tmp_path / "cache", progress=False),
        lambda: open_source(spec),
    ):
        with pytest.raises(DcganError, match="data source is empty") as e:
            call()
        assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_the_cli_refuses_an_empty_source(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "a.png")
    assert main(["prepare", "", str(tmp_path / "out"), "--size", "16"]) == 2
    train = ["train", "--data", "", "--size", "16", "--ngf", "8", "--ndf", "8", "--steps", "1"]
    train += ["--out", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")]
    assert main([*train, "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("data source is empty" in line for line in lines), lines
    assert not any((tmp_path / name).exists() for name in ("out", "runs", "cache"))


@pytest.mark.parametrize("data", [None, 123, 1.5, ["digits"]])
def test_data_that_is_no_path_or_name_is_one_line(tmp_path, data):
    want = f"data must be a path or a dataset name, got {data!r}"
    for call in (
        lambda: resolve_data(data, 16, cache=tmp_path / "cache", progress=False),
        lambda: prepare(data, tmp_path / "out", 16, progress=False, workers=1),
        lambda: open_source(data),
    ):
        with pytest.raises(DcganError) as e:
            call()
        assert str(e.value) == want
