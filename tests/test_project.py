"""Photos into z (`dcgan project`): the search finds a G sample's z better than chance, the
prior is kept, the z file it writes is read by interpolate, arithmetic and explore, and bad
input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny
from PIL import Image

from dcgan import DcganError
from dcgan.cli import main
from dcgan.conventions import sample_z
from dcgan.experiments.encoder import train_encoder
from dcgan.experiments.latent import arithmetic, interpolate, latents
from dcgan.experiments.project import project
from dcgan.experiments.zfile import parse_points, read_latents
from dcgan.sampling import generate, load, save_each, with_bn_mode

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("project"), steps=20)


@pytest.fixture(scope="module")
def tiny_normal(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("project_n"), steps=3, z_dist="normal")


def _samples(model, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    z = latents(model, seeds)
    return z, generate(model.generator, z, "batch", model.config.z_dist)


def test_recovery_beats_random_z(tiny: Path) -> None:
    """G's own samples come back closer, in pixels and in z, than the best of 64 random z."""
    model = load(tiny)
    z, x = _samples(model, [11, 12, 13, 14])
    p = project(model, x, search_steps=150, restarts=2)
    assert p.measure == "pixels + D features"
    pool = sample_z(64, z.shape[1], "uniform", torch.Generator().manual_seed(99))
    pool_x = generate(model.generator, pool, "batch")
    random_mse = (pool_x[None] - x[:, None]).pow(2).flatten(2).mean(2).min(1).values
    assert (p.pixel_mse() < random_mse).all(), (p.pixel_mse(), random_mse)
    random_z = (pool[None] - z[:, None]).norm(dim=2).mean(1)
    assert ((p.z - z).norm(dim=1) < random_z).all()
    assert p.z.abs().max() <= 1.0  # the uniform prior's box


def test_normal_prior_keeps_the_typical_norm(tiny_normal: Path) -> None:
    model = load(tiny_normal)
    assert model.config.z_dist == "normal"
    _, x = _samples(model, [1, 2])
    p = project(model, x, search_steps=60, restarts=1, norm_weight=10.0, pixel_weight=1.0)
    norms = p.z.norm(dim=1) / np.sqrt(p.z.shape[1])
    assert ((norms > 0.8) & (norms < 1.2)).all(), norms
    assert p.z.abs().max() > 1.0  # not clamped to a box


def test_pixels_alone_for_a_model_without_d(tiny: Path) -> None:
    model = load(tiny)
    model.discriminator = None
    _, x = _samples(model, [3])
    assert project(model, x, search_steps=2, restarts=1).measure == "pixels"


def test_encoder_learns_z_from_samples(tiny: Path) -> None:
    model = load(tiny)
    g = with_bn_mode(model.generator, "batch")
    z, x = _samples(model, list(range(100, 132)))
    untrained = train_encoder(g, "uniform", 0)
    trained = train_encoder(g, "uniform", 150)
    with torch.no_grad():
        err = [(e(x) - z).pow(2).mean() for e in (untrained, trained)]
    assert err[1] < 0.8 * err[0], err
    p = project(model, x[:2], search_steps=5, restarts=2, encoder_steps=3)
    assert p.z.shape == (2, z.shape[1])


def test_z_file_round_trips_into_interpolate_and_arithmetic(tiny: Path, tmp_path: Path) -> None:
    model = load(tiny)
    _, x = _samples(model, [5, 6])
    p = project(model, x, search_steps=5, restarts=1)
    png, npy, record = p.save(tmp_path / "out")
    assert Image.open(png).width >= 4 * 16
    for z_file in (npy, record):
        torch.testing.assert_close(read_latents(z_file, p.z.shape[1]), p.z)
        walk = interpolate(model, ["p0", 7, "p1"], segment_steps=2, latents=str(z_file))
        torch.testing.assert_close(walk.z[[0, 4]], p.z)
        torch.testing.assert_close(walk.z[2], latents(model, [7])[0])
    r = arithmetic(model, "A - B + C", {"A": ["p0"], "B": [3], "C": ["p1"]}, latents=str(npy))
    want = p.z[0] - latents(model, [3])[0] + p.z[1]
    torch.testing.assert_close(r.y[0], want)
    assert json.loads(png.with_suffix(".json").read_text())["names"] == ["image0", "image1"]


def test_cli_project_then_interpolate(tiny: Path, tmp_path: Path, capsys) -> None:
    model = load(tiny)
    save_each(generate(model.generator, latents(model, [1, 2]), "batch"), [1, 2], tmp_path / "in")
    out = tmp_path / "proj"
    assert (
        main(
            ["project", str(tiny), str(tmp_path / "in"), "--search-steps", "3", "--out", f"{out}/"]
        )
        == 0
    )
    z = np.load(out / "project.npy")
    assert z.shape == (2, 100) and z.dtype == np.float32
    walk = tmp_path / "walk.png"
    argv = ["interpolate", str(tiny), "--latents", str(out / "project.npy"), "--seeds", "p1,4"]
    assert main([*argv, "--out", str(walk)]) == 0
    assert json.loads(walk.with_suffix(".json").read_text())["seeds"] == ["p1", 4]


def test_explore_takes_z_file_rows(tiny: Path, tmp_path: Path) -> None:
    from dcgan.explore import Engine
    from dcgan.explore.requests import BadRequest

    np.save(tmp_path / "z.npy", np.zeros((2, 100), np.float32))
    engine = Engine(tiny, latents=str(tmp_path / "z.npy"))
    assert engine.info()["latents"] == 2
    assert len(engine.samples({"seeds": ["p1", 3]})["images"]) == 2
    assert len(engine.walk({"seeds": ["p0", 3], "steps": 2})["images"]) == 3
    with pytest.raises(BadRequest, match="p0..p1"):
        engine.samples({"seeds": ["p2"]})
    with pytest.raises(BadRequest, match="--latents"):
        Engine(tiny).samples({"seeds": ["p0"]})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not an image", "not an image that decodes"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image that decodes"),
    ],
)
def test_bad_images_are_one_line(tiny: Path, tmp_path: Path, capsys, content, why) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "face.png").write_bytes(content)
    code = main(["project", str(tiny), str(tmp_path / "in"), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and why in err[0] and "face.png" in err[0], err
    assert not (tmp_path / "o.png").exists()


def test_no_images_and_missing_path_are_one_line(tiny: Path, tmp_path: Path, capsys) -> None:
    for path in (tmp_path, tmp_path / "absent.jpg"):
        assert main(["project", str(tiny), str(path), "--out", str(tmp_path / "o.png")]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0], err


def test_bad_z_files_are_refused(tmp_path: Path) -> None:
    cases = {
        "pickled.npy": lambda p: np.save(p, np.array([{"a": 1}], dtype=object)),
        "shape.npy": lambda p: np.save(p, np.zeros((2, 7))),
        "nan.npy": lambda p: np.save(p, np.full((1, 100), np.nan)),
        "text.json": lambda p: p.write_text('{"z": "no"}'),
        "list.json": lambda p: p.write_text("[1, 2]"),
    }
    for name, write in cases.items():
        write(tmp_path / name)
        with pytest.raises(DcganError, match=name):
            read_latents(tmp_path / name, 100)
    # The message never suggests unpickling (numpy's own text does).
    with pytest.raises(DcganError, match="never loaded") as refused:
        read_latents(tmp_path / "pickled.npy", 100)
    assert "allow_pickle" not in str(refused.value)
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(DcganError, match="not a .npy array"):
        read_latents(tmp_path / "text.npy", 100)


def test_parse_points() -> None:
    assert parse_points("0-2,p1,p3-p4") == [0, 1, 2, "p1", "p3", "p4"]
    for bad in ("p", "p2-p1", "q1", "p1-3"):
        with pytest.raises(DcganError):
            parse_points(bad)
