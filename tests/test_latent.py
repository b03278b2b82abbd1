"""Latent walks, the contact sheet and vector arithmetic (paper §6.1, §6.3.2; Fig. 4, 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import train_tiny
from PIL import Image

from dcgan import DcganError
from dcgan.cli import main
from dcgan.experiments.latent import arithmetic, interpolate, parse_expression, sheet
from dcgan.sampling import load, slerp, walk, z_from_seeds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 16 px grey model trained for 3 steps: enough to exercise every code path."""
    return train_tiny(tmp_path_factory.mktemp("latent"))


@pytest.mark.parametrize("spherical", [False, True])
def test_walk_hits_its_points(spherical: bool) -> None:
    points = z_from_seeds([1, 2, 3], 100)
    z = walk(points, 4, spherical)
    assert z.shape == (9, 100)
    torch.testing.assert_close(z[[0, 4, 8]], points)


def test_slerp_keeps_norm_and_lerp_shrinks_it() -> None:
    a, b = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    b = b / b.norm() * a.norm()
    t = torch.linspace(0, 1, 11)
    torch.testing.assert_close(slerp(a, b, t).norm(dim=1), a.norm().expand(11))
    mid = torch.lerp(a, b, torch.tensor(0.5))
    assert mid.norm() < 0.9 * a.norm()  # independent directions: the midpoint is shorter


def test_interpolate_rows_gif_json(tiny: Path, tmp_path: Path) -> None:
    w = interpolate(load(tiny), [4, 5, 6], segment_steps=3, spherical=True)
    assert w.images.shape == (7, 1, 16, 16)
    rows = w.rows()
    assert rows.shape == (8, 1, 16, 16)  # 2 segments x 4 frames, the middle point twice
    torch.testing.assert_close(rows[3], rows[4])
    png, gif, record = w.save(tmp_path / "out")
    assert Image.open(png).size == (4 * 18 + 2, 2 * 18 + 2)
    assert Image.open(gif).n_frames == 7
    assert json.loads(record.read_text())["seeds"] == [4, 5, 6]


def test_sheet_numbers_every_seed(tiny: Path) -> None:
    im = sheet(load(tiny), list(range(12)), nrow=5)
    assert im.width >= 5 * 16 and im.height >= 3 * 16


def test_parse_expression() -> None:
    assert parse_expression("A - B + C") == [(1, "A"), (-1, "B"), (1, "C")]
    assert parse_expression("-A+B") == [(-1, "A"), (1, "B")]
    for bad in ("A -", "A * B", "a-b", ""):
        with pytest.raises(DcganError):
            parse_expression(bad)


def test_arithmetic_reproduces_and_neighbours_in_box(tiny: Path, tmp_path: Path) -> None:
    model = load(tiny)
    concepts = {"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9]}
    r1 = arithmetic(model, "A - B + C", concepts)
    r2 = arithmetic(model, "A - B + C", concepts)
    torch.testing.assert_close(r1.y, r2.y)
    torch.testing.assert_close(r1.y_images, r2.y_images)
    z = {c: z_from_seeds(s, 100) for c, s in concepts.items()}
    y = z["A"].mean(0) - z["B"].mean(0) + z["C"].mean(0)
    torch.testing.assert_close(r1.y[0], y)
    assert r1.y.shape == (9, 100) and r1.y_images.shape == (9, 1, 16, 16)
    offsets = r1.y[1:] - y
    assert offsets.abs().max() <= 0.25 and offsets.abs().max() > 0.2
    torch.testing.assert_close(r1.single[0], z["A"][0] - z["B"][0] + z["C"][0])
    assert r1.pixel.shape == (1, 16, 16) and r1.pixel.abs().max() <= 1
    png, record = r1.save(tmp_path / "a.png")
    assert Image.open(png).width > 3 * 4 * 16
    assert json.loads(record.read_text())["concepts"] == concepts


def test_arithmetic_needs_seeds_for_every_concept(tiny: Path) -> None:
    with pytest.raises(DcganError, match="concept"):
        arithmetic(load(tiny), "A - B", {"A": [1]})


@pytest.mark.parametrize(
    "args, needle",
    [
        (["interpolate", "--seeds", "1,x"], "bad seeds"),
        (["interpolate", "--seeds", "3"], "two seeds"),
        (["arithmetic", "A * B", "--A", "1", "--B", "2"], "bad expression"),
        (["arithmetic", "A - B", "--A", "1"], "concept"),
        (["arithmetic", "A - B", "--A", "1-", "--B", "2"], "bad seeds"),
    ],
)
def test_bad_input_one_line_exit_2(tiny: Path, tmp_path: Path, capsys, args, needle) -> None:
    assert main([args[0], str(tiny), *args[1:], "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_cli_writes_outputs(tiny: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "interpolate",
                str(tiny),
                "--points",
                "3",
                "--segment-steps",
                "2",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert {p.name for p in tmp_path.iterdir()} == {"walk.png", "walk.gif", "walk.json"}
    assert main(["sheet", str(tiny), "--n", "6", "--out", str(tmp_path / "s.png")]) == 0
    out = tmp_path / "ar"
    args = ["arithmetic", str(tiny), "A-B+C", "--A", "1-3", "--B", "4-6", "--C", "7-9"]
    assert main([*args, "--out", str(out)]) == 0
    assert (out / "arithmetic.png").exists() and (out / "arithmetic.json").exists()


def test_neighbors_sheet_and_ratio(tiny: Path, tmp_path: Path) -> None:
    from dcgan.experiments.neighbors import neighbors

    r = neighbors(load(tiny), "digits", n=3, k=2, ratio_samples=20, held_out=40, cache=tmp_path)
    assert r.index["pixel"].shape == (3, 2) and r.index["feature"].shape == (3, 2)
    assert set(r.distance) == {"pixel", "feature"}
    assert all(r.ratio(s) > 0 for s in r.distance)
    png, record = r.save(tmp_path / "nn")
    assert png.name == "neighbors.png" and Image.open(png).height >= 3 * 16
    assert json.loads(record.read_text())["ratio"]["pixel"] == round(r.ratio("pixel"), 4)


def test_neighbors_exact_copies_have_ratio_zero(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    """A 'model' that returns training images verbatim sits at distance 0 from them."""
    import dcgan.experiments.neighbors as nn_module
    from dcgan.data.packed import resolve_data

    data = resolve_data("digits", 16, 1, cache=tmp_path, progress=False).images
    copies = torch.from_numpy(data[:20].copy()).float() / 127.5 - 1
    monkeypatch.setattr(nn_module, "generate", lambda *a, **k: copies)
    r = nn_module.neighbors(
        load(tiny), "digits", n=2, k=1, ratio_samples=20, held_out=40, cache=tmp_path
    )
    assert r.ratio("pixel") < 1e-2  # cdist rounds a little
    assert r.index["pixel"][:, 0].tolist() == [0, 1]


def test_detectors_answer_per_image() -> None:
    from dcgan.experiments.detect import has_face, smiles

    images = torch.zeros(3, 3, 64, 64)  # flat grey: no face, no smile
    assert has_face(images) == [False] * 3 and smiles(images) == [False] * 3


def test_missing_cascade_is_one_clear_error(monkeypatch) -> None:
    from dcgan.experiments import detect

    monkeypatch.setitem(detect.CASCADES, "nothing", "haarcascade_nothing.xml")
    with pytest.raises(DcganError, match="haarcascade_nothing"):
        detect.cascade("nothing")


def test_auto_smile_without_faces_exit_2(tiny: Path, tmp_path: Path, capsys) -> None:
    assert main(["arithmetic", str(tiny), "--auto", "smile", "--out", str(tmp_path)]) == 2
    assert "smiling" in capsys.readouterr().err


def test_facing_of_blank_images_is_zero() -> None:
    from dcgan.experiments.detect import facing

    assert facing(torch.zeros(2, 3, 64, 64)) == [0, 0]


def test_turn_without_profiles_exit_2(tiny: Path, tmp_path: Path, capsys) -> None:
    argv = ["turn", str(tiny), "--pose", "profile", "--pool", "20", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "facing" in capsys.readouterr().err


def test_turn_without_landmark_faces_exit_2(tiny: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("dlib", reason='landmarks need dlib-bin: pip install "dcgan[landmarks]"')
    assert main(["turn", str(tiny), "--pool", "20", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "faces were found among 20 samples" in err and len(err.splitlines()) == 1
