"""The truncation trick at sampling time (issue 31): `--truncation psi` of sample,
interpolate and explore scales each z toward the prior's mean; psi = 1 is today's output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import train_tiny

from dcgan import DcganError
from dcgan.cli import main
from dcgan.conventions import truncate
from dcgan.experiments.latent import interpolate, latents
from dcgan.explore import Engine
from dcgan.sampling import generate, load, sample, walk, z_from_seeds

pytestmark = pytest.mark.usefixtures("one_thread")
SEEDS = [0, 1, 2, 3, 4, 5]


@pytest.fixture(scope="module", params=["uniform", "normal"])
def tiny(request, tmp_path_factory) -> Path:
    """A 16 px grey model trained for 3 steps, under each prior."""
    return train_tiny(tmp_path_factory.mktemp("trunc"), z_dist=request.param)


def test_psi_one_is_the_untruncated_path_bit_for_bit(tiny: Path) -> None:
    model = load(tiny)
    z = z_from_seeds(SEEDS, model.generator.config.nz, model.config.z_dist)
    before = generate(model.generator, z, "batch", model.config.z_dist)  # sample's old path
    assert torch.equal(sample(model, SEEDS, truncation=1.0), before)
    assert torch.equal(sample(model, SEEDS), before)
    old_walk = walk(latents(model, [0, 1]), 4)
    assert torch.equal(interpolate(model, [0, 1], segment_steps=4, truncation=1.0).z, old_walk)


def test_psi_scales_z_toward_the_mean(tiny: Path) -> None:
    model = load(tiny)
    z = z_from_seeds(SEEDS, model.generator.config.nz, model.config.z_dist)
    got = sample(model, SEEDS, truncation=0.5)
    assert torch.equal(got, generate(model.generator, z * 0.5, "batch", model.config.z_dist))
    assert not torch.equal(got, sample(model, SEEDS))
    mean_face = sample(model, SEEDS, truncation=0.0)  # every seed at the prior's mean
    assert torch.equal(mean_face, mean_face[:1].expand_as(mean_face))


@pytest.mark.parametrize("spherical", [False, True])
def test_a_truncated_walk_is_the_walk_scaled(tiny: Path, spherical: bool) -> None:
    model = load(tiny)
    full = interpolate(model, [3, 7, 9], segment_steps=3, spherical=spherical)
    half = interpolate(model, [3, 7, 9], segment_steps=3, spherical=spherical, truncation=0.5)
    torch.testing.assert_close(half.z, full.z * 0.5)


def test_explore_truncates_samples_and_walks(tiny: Path) -> None:
    plain, truncated = Engine(tiny), Engine(tiny, truncation=0.0)
    assert plain.info()["truncation"] == 1.0 and truncated.info()["truncation"] == 0.0
    images = truncated.samples({"seeds": [0, 1, 2]})["images"]
    assert len(set(images)) == 1  # all at the mean: one image
    assert len(set(plain.samples({"seeds": [0, 1, 2]})["images"])) == 3
    frames = truncated.walk({"seeds": [0, 5], "steps": 2})["images"]
    assert len(set(frames)) == 1


def test_cli_sample_psi_one_writes_the_same_png(tiny: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert main(["sample", str(tiny), "--n", "8", "--out", str(a)]) == 0
    assert main(["sample", str(tiny), "--n", "8", "--truncation", "1", "--out", str(b)]) == 0
    assert main(["sample", str(tiny), "--n", "8", "--truncation", "0.5", "--out", str(c)]) == 0
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    walk_png = tmp_path / "walk.png"
    argv = ["interpolate", str(tiny), "--seeds", "1,2", "--truncation", "0.7", "--out"]
    assert main([*argv, str(walk_png)]) == 0 and walk_png.is_file()


@pytest.mark.parametrize("verb", ["sample", "interpolate"])
@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_bad_psi_is_one_line_exit_2(tiny: Path, tmp_path, capsys, verb: str, value: str) -> None:
    out = str(tmp_path / "x.png")
    assert main([verb, str(tiny), "--truncation", value, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert "truncation" in err and len(err.splitlines()) == 1


def test_api_refuses_psi_out_of_range(tiny: Path) -> None:
    with pytest.raises(DcganError, match="truncation"):
        sample(load(tiny), [0], truncation=2.0)
    with pytest.raises(DcganError, match="truncation"):
        truncate(torch.zeros(1, 3), -1.0)
