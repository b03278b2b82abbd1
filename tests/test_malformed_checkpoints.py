"""Every checkpoint that is not what it claims is one line (DcganError, exit 2 in the CLI),
never torch's message or a traceback: a fuzz corpus of malformed files built here."""

from __future__ import annotations

import io
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training import tiny_config

from dcgan.checkpoint import FORMAT, load_checkpoint, save_file
from dcgan.cli import main
from dcgan.config import ModelConfig, TrainConfig
from dcgan.errors import DcganError, UnsafeData
from dcgan.models import Discriminator, Generator
from dcgan.sampling import load
from dcgan.training import train


def good_state() -> dict:
    config = TrainConfig(model=ModelConfig(size=16, channels=1, ngf=8, ndf=8))
    g, d = Generator(config.model), Discriminator(config.model)
    return {"config": config.to_dict(), "step": 3, "G": g.state_dict(), "D": d.state_dict()}


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def corpus(folder: Path) -> list[Path]:
    """Truncations, random bytes, byte flips, wrong containers and wrong field types."""
    good = save_file(folder / "good.pt", good_state()).read_bytes()
    rng = random.Random(0)
    files: dict[str, bytes] = {}
    for cut in sorted({0, 1, 10, 100, *(rng.randrange(len(good)) for _ in range(40))}):
        files[f"cut{cut}"] = good[:cut]
    for i in range(10):
        files[f"random{i}"] = rng.randbytes(rng.choice([3, 64, 1000, 20000]))
    for i in range(60):  # flips near the zip headers, the pickle and the central directory
        data = bytearray(good)
        for _ in range(4):
            where = rng.choice([rng.randrange(200), len(good) - 1 - rng.randrange(2000)])
            data[where] = rng.randrange(256)
        files[f"flip{i}"] = bytes(data)
    files["text"] = b"hello, this is a text file named .pt\n"
    files["png"] = b"\x89PNG\r\n\x1a\n" + bytes(100)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"not a pickle")
    files["zip"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(3))
    files["npz"] = buf.getvalue()
    files["pickle"] = pickle.dumps({"format": FORMAT, "step": 1})
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "step": 1}, buf, _use_new_zipfile_serialization=False)
    files["legacy"] = buf.getvalue()
    paths = []
    for name, data in files.items():
        paths.append(folder / f"{name}.pt")
        paths[-1].write_bytes(data)
    return paths


FIELDS = {
    "config-string": {"config": "abc"},
    "config-list": {"config": [1, 2]},
    "config-model-string": {"config": {"model": "wide"}},
    "config-ngf-string": {"config": {"model": {"size": 16, "channels": 1, "ngf": "wide"}}},
    "config-lr-string": {"config": {"lr": "fast"}},
    "step-string": {"step": "ten"},
    "step-float": {"step": 3.5},
    "step-negative": {"step": -1},
    "G-list": {"G": [1, 2]},
    "D-strings": {"D": {"w": "x"}},
    "G-shapes": {"G": {"project.weight": torch.zeros(2)}},
    "G_ema-string": {"G_ema": "x"},
    "no-format": {"format": None},
}


def test_every_malformed_file_is_one_line(tmp_path):
    outcomes = {"loaded": 0, "refused": 0}
    for path in corpus(tmp_path):
        try:
            load(path)
            outcomes["loaded"] += 1  # a flip inside tensor data still reads: that is fine
        except DcganError as e:
            assert "\n" not in str(e) and "weights_only" not in str(e), (path, e)
            outcomes["refused"] += 1
    assert outcomes["refused"] >= 60, outcomes


@pytest.mark.parametrize("case", FIELDS)
def test_wrong_field_types_are_one_line(tmp_path, case):
    path = tmp_path / "x.pt"
    save_file(path, {**good_state(), **FIELDS[case]})
    with pytest.raises(DcganError) as e:
        load(path)
    assert "\n" not in str(e.value)


def test_a_text_file_named_pt_in_the_cli(tmp_path, capsys):
    (tmp_path / "x.pt").write_text("hello\n")
    for argv in (["sample", str(tmp_path / "x.pt"), "--out", str(tmp_path / "s.png")],):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not a readable checkpoint" in err, err


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "step": 1, "x": Payload(marker)}, path)
    with pytest.raises(UnsafeData, match="never loaded") as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value) and not marker.exists()


def test_resume_from_a_malformed_checkpoint_is_one_line(tmp_path):
    run = train(tiny_config(tmp_path, steps=2)).run_dir
    state = load_checkpoint(run)
    model = {**state["config"]["model"], "ngf": 3.5}
    for bad in (
        {"opt_G": [1]},
        {"rng": {"z": "x"}},
        {"opt_D": {"state": 3}},
        {"config": {**state["config"], "model": "wide"}},
        {"config": {**state["config"], "model": model}},
    ):
        save_file(run / "latest.pt", {**state, **bad})
        with pytest.raises(DcganError):
            train(tiny_config(tmp_path, steps=4), resume=run / "latest.pt")
