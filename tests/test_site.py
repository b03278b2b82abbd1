"""`dcgan export --out-format site` without a browser: the folder's files, the seed table
against `z_from_seeds`, the pinned onnxruntime-web files and their one-line refusals.
The page itself runs in tests/test_site_browser.py."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny

from dcgan import DcganError
from dcgan.cli import main
from dcgan.experiments.latent import neighbors
from dcgan.explore import site as s
from dcgan.export import export
from dcgan.sampling import z_from_seeds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def built(tiny: Path, tmp_path_factory) -> Path:
    turn = tmp_path_factory.mktemp("dir") / "turn.json"
    turn.write_text(json.dumps({"turn_vector": [0.5] * 100}))
    out = tmp_path_factory.mktemp("out") / "site"
    return export(tiny, out, format="site", site_seeds=20, directions=[str(turn)]).path


def test_site_files_and_seed_table(built: Path) -> None:
    names = {"index.html", "explore.js", "site.js", "site.json", "model.onnx", "z.bin"}
    assert {p.name for p in built.iterdir()} == names  # no ort/: the CDN by default
    z = np.frombuffer((built / "z.bin").read_bytes(), "<f4").reshape(20, 100)
    assert np.array_equal(z, z_from_seeds(list(range(20)), 100).numpy())  # seed s = row s
    about = json.loads((built / "site.json").read_text())
    assert about["info"]["limits"]["seed_max"] == 19 and about["directions"]["turn"][0] == 0.5
    offsets = neighbors(torch.zeros(100))[1:]  # as `dcgan arithmetic` adds them to Y
    assert np.allclose(about["offsets"], offsets.numpy())
    assert about["ort"]["wasm"] == s.ORT_CDN + s.ORT_WASM
    assert about["ort"]["integrity"] == s.ORT_FILES[s.ORT_WASM]
    html = (built / "index.html").read_text()
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html)[1])
    url = s.ORT_CDN + s.ORT_JS
    assert imports == {
        "imports": {"onnxruntime-web": url},
        "integrity": {url: s.ORT_FILES[s.ORT_JS]},
    }
    assert 'data-backend="site"' in html


def test_site_is_replaced_but_other_folders_are_refused(tiny: Path, built: Path, tmp_path) -> None:
    export(tiny, built, format="site", site_seeds=16)  # a site already: replaced as a whole
    assert json.loads((built / "site.json").read_text())["directions"] == {}
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DcganError, match="not a site"):
        export(tiny, tmp_path, format="site")
    with pytest.raises(DcganError, match="in 16..65536"):
        export(tiny, tmp_path / "new", format="site", site_seeds=8)


def tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_offline_files_are_checked(tmp_path: Path, monkeypatch) -> None:
    fake = tgz(tmp_path / "ort.tgz", {s.ORT_JS: b"x", s.ORT_WASM: b"y"})
    with pytest.raises(DcganError, match="is not onnxruntime-web 1.31.1's"):
        s.ort_web(str(fake), str(tmp_path))
    with pytest.raises(DcganError, match="no onnxruntime-web in"):
        s.ort_web(str(tmp_path), str(tmp_path))
    monkeypatch.setattr(s.shutil, "which", lambda name: None)
    with pytest.raises(DcganError, match="npm is not installed: give --ort-web PATH"):
        s.ort_web(None, str(tmp_path / "empty-cache"))


def test_cli_site(tiny: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "site"
    assert main(["export", str(tiny), "--out-format", "site", "--out", str(out)]) == 0
    assert "static site" in capsys.readouterr().out and (out / "index.html").is_file()
    args = ["export", str(tiny), "--out-format", "site", "--out", str(out), "--offline"]
    assert main([*args, "--ort-web", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no onnxruntime-web in" in err
