"""`dcgan pull`: the registered public models from the local copies in the shared data (no
network in tests), converted once into the cache as packages that give the converters'
images bit for bit; a bad hash, no network and an unknown name are one line each."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import torch
from test_cli import one_line_error, run_cli

from dcgan import load, sample
from dcgan.cli import main
from dcgan.convert import convert
from dcgan.package import CONFIG, is_package
from dcgan.pull import pull
from dcgan.registry import REGISTRY
from dcgan.torch_examples import convert_examples

pytest.importorskip("safetensors")
SEEDS = [0, 1, 7]


@pytest.fixture
def digiface(shared: Path) -> Path:
    return shared / "pretrained" / "digiface64_dcgan"


@pytest.fixture
def svhn(shared: Path) -> Path:
    return shared / "newmu_svhn_dcgan"


def test_digiface64_from_a_local_copy(digiface: Path, tmp_path: Path, capsys) -> None:
    assert main(["pull", "digiface64", "--from", str(digiface), "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr()
    path = Path(out.out.strip())  # the path alone on stdout
    assert path == tmp_path / "models" / "digiface64" and is_package(path)
    assert "licence mit" in out.err
    convert_examples(digiface / "weights.tar", tmp_path / "ref.pt")
    ref = load(tmp_path / "ref.pt")
    for bn in ("batch", "running"):
        assert torch.equal(sample(load(path), SEEDS, bn=bn), sample(ref, SEEDS, bn=bn))
    card = (path / "README.md").read_text()
    assert 'license: "mit"' in card and "dcgan pull digiface64" in card
    assert "/tmp/dcgan-pull" not in (path / CONFIG).read_text()
    # Converted once: a second pull, even with no copy and no network, is the cache.
    assert pull("digiface64", cache=str(tmp_path)) == path


def test_newmu_svhn_from_its_folder(svhn: Path, tmp_path: Path) -> None:
    path = pull("newmu-svhn", source=str(svhn), cache=str(tmp_path))
    convert(svhn, tmp_path / "ref.pt")
    ref, got = load(tmp_path / "ref.pt"), load(path)
    assert got.discriminator is not None
    assert torch.equal(sample(got, SEEDS), sample(ref, SEEDS))


def test_the_wheel_itself_is_a_source(digiface: Path, tmp_path: Path) -> None:
    """The file inside a wheel, as `pip download` gives it (a zip built here)."""
    import zipfile

    e = REGISTRY["digiface64"]
    wheel = tmp_path / "gan_face_generate-1.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(digiface / "weights.tar", e.member + "weights.tar")
    assert is_package(pull("digiface64", source=str(wheel), cache=str(tmp_path / "c")))


def test_a_hash_mismatch_is_one_line(digiface: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "weights.tar"
    shutil.copy(digiface / "weights.tar", bad)
    with open(bad, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    code, err = run_cli(capsys, "pull", "digiface64", "--from", str(bad), "--cache", str(tmp_path))
    one_line_error(code, err, "sha256", "is not the registry's", "--from PATH")
    assert not (tmp_path / "models" / "digiface64").exists()


def test_unknown_name_and_missing_copy(tmp_path: Path, capsys) -> None:
    code, err = run_cli(capsys, "pull", "lsun-bedrooms", "--cache", str(tmp_path))
    one_line_error(code, err, "unknown model 'lsun-bedrooms'", "digiface64, newmu-svhn")
    code, err = run_cli(capsys, "pull", "digiface64", "--from", str(tmp_path / "nowhere"))
    one_line_error(code, err, "no such file or folder")


def test_no_network_is_one_line_with_the_way_out(tmp_path: Path, capsys, monkeypatch) -> None:
    def offline_pip(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution\n")

    def offline_url(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(subprocess, "run", offline_pip)
    monkeypatch.setattr(urllib.request, "urlopen", offline_url)
    code, err = run_cli(capsys, "pull", "digiface64", "--cache", str(tmp_path))
    one_line_error(code, err, "cannot download gan-face-generate==1.1.1", "use --from PATH")
    code, err = run_cli(capsys, "pull", "newmu-svhn", "--cache", str(tmp_path))
    one_line_error(code, err, "cannot download https://", "use --from PATH")
    assert not (tmp_path / "models").exists()
