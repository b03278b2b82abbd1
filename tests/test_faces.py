"""`faces`: OpenCV face crops on real CelebA and MNIST images."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from conftest import SHARED

from dcgan.cli import main
from dcgan.data.images import open_image
from dcgan.data.packed import PackedDataset
from dcgan.experiments.faces import detect_faces, faces, square_crop
from dcgan.options_data import FacesConfig

TAR = SHARED / "celeba_aligned_00.tar"


@pytest.fixture(scope="module")
def celeba_folder(tmp_path_factory):
    """Six real CelebA JPEGs in a folder."""
    if not TAR.is_file():
        pytest.skip(f"real CelebA tar {TAR} is absent")
    folder = tmp_path_factory.mktemp("celeba")
    with tarfile.open(TAR) as tf:
        for m in [m for m in tf.getmembers() if m.isfile()][:6]:
            (folder / m.name.split("/")[-1]).write_bytes(tf.extractfile(m).read())
    return folder


def test_one_face_inside_a_celeba_image(celeba_folder):
    path = sorted(celeba_folder.iterdir())[0]
    image = np.asarray(open_image(path, 3))
    boxes = detect_faces(image, FacesConfig())
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    height, width = image.shape[:2]
    assert 0 <= x <= width - w and 0 <= y <= height - h and w >= 48
    cx, cy, s, _ = square_crop(boxes[0], width, height, 0.2)
    assert 0 <= cx <= width - s and 0 <= cy <= height - s and s >= w


def test_square_crop_stays_inside():
    assert square_crop((0, 0, 100, 100), 120, 150, 0.5) == (0, 0, 120, 120)
    assert square_crop((50, 60, 20, 20), 200, 200, 0.25) == (45, 55, 30, 30)


def test_faces_writes_a_trainable_packed_dataset(celeba_folder, tmp_path):
    result = faces(celeba_folder, tmp_path / "out", FacesConfig(size=32))
    data = PackedDataset(tmp_path / "out")
    assert len(data) == len(result.crops) >= 5 and data.images.shape[1:] == (3, 32, 32)
    report = json.loads((tmp_path / "out" / "faces.json").read_text())
    assert report["images"] == 6 and sum(report["images_with_faces"].values()) == 6
    assert all(len(c["box"]) == 4 and c["source"].endswith(".jpg") for c in report["crops"])
    assert (
        main(
            [
                "faces",
                str(celeba_folder),
                "--out",
                str(tmp_path / "f"),
                "--size",
                "16",
                "--out-format",
                "folder",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "f").glob("*.png"))) == len(result.crops)


def test_no_faces_on_mnist_digits(tmp_path):
    if not (SHARED / "mnist.npz").is_file():
        pytest.skip("real mnist.npz is absent")
    digits = np.load(SHARED / "mnist.npz")["x_test"][:100]
    upscaled = np.kron(digits, np.ones((4, 4), np.uint8))  # 112 px: big enough to be searched
    assert sum(len(detect_faces(d, FacesConfig())) for d in upscaled) == 0


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["faces", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png")
    assert main(["faces", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no decodable images" in err
    noface = tmp_path / "noface"
    noface.mkdir()
    np.save(noface / "x.npy", np.zeros((3, 64, 64), np.uint8))
    assert main(["faces", str(noface / "x.npy"), "--out", str(tmp_path / "o")]) == 2
    assert "no faces" in capsys.readouterr().err
