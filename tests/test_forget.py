"""`forget` (paper §6.3.1): boxes, the classifier, dropping maps, hit rates."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny
from PIL import Image

from dcgan import DcganError
from dcgan.cli import main
from dcgan.data.images import fit_square, open_image
from dcgan.experiments import forget as fg
from dcgan.sampling import generate, load, z_from_seeds

BOXES = {
    "0": [[0, 0, 16, 16]],
    "1": [[8, 8, 24, 20], [20, 0, 32, 6]],
    "2": [],
    "3": [[4, 20, 12, 31]],
}


@pytest.fixture(scope="module")
def tiny32(tmp_path_factory) -> Path:
    """A 32 px grey model (hidden conv layers at 8 and 16 px) trained for 2 steps."""
    return train_tiny(tmp_path_factory.mktemp("forget32"), 32, steps=2)


@pytest.fixture(scope="module")
def tiny16(tmp_path_factory) -> Path:
    """A 16 px model: one hidden conv layer only, so no second-highest one."""
    return train_tiny(tmp_path_factory.mktemp("forget16"), 16, steps=2)


def test_check_boxes_accepts_ints_and_digit_strings() -> None:
    boxes = fg.check_boxes({"3": [[1, 2, 5.5, 6]], 7: []}, 32)
    assert boxes == {3: [(1.0, 2.0, 5.5, 6.0)], 7: []}


@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"0": [[0, 0, 40, 10]]}, "not inside"),
        ({"0": [[-1, 0, 4, 4]]}, "not inside"),
        ({"0": [[5, 0, 5, 4]]}, "not inside"),
        ({"1-3": [[0, 0, 4, 4]]}, "bad seed"),
        ({"x": [[0, 0, 4, 4]]}, "bad seed"),
        ({"\u00b2": [[0, 0, 4, 4]]}, "bad seed"),  # a digit to str.isdigit, not to int()
        ({"0": [[0, 0, 4]]}, "expected a list"),
        ({"0": [0, 0, 4, 4]}, "expected a list"),
        ({"0": []}, "no boxes"),
        ([[0, 0, 4, 4]], "expected an object"),
    ],
)
def test_check_boxes_rejects(raw, needle: str) -> None:
    with pytest.raises(DcganError, match=needle):
        fg.check_boxes(raw, 32)


def test_inside_marks_positions_whose_centre_is_in_a_box() -> None:
    mask = fg.inside([[(0, 0, 16, 16)], [(8, 4, 12, 8)], []], 8, 32)
    assert mask.shape == (3, 8, 8)
    assert mask[0, :4, :4].all() and mask[0].sum() == 16
    assert mask[1].nonzero().tolist() == [[1, 2]]  # centre (10, 6) of a 4 px cell
    assert not mask[2].any()


def test_block_index_counts_from_the_top(tiny32: Path, tiny16: Path) -> None:
    g = load(tiny32).generator
    assert fg.block_index(g, 1) == 1 and fg.block_index(g, 2) == 0
    with pytest.raises(DcganError, match="no conv layer 2"):
        fg.block_index(load(tiny16).generator, 2)


@pytest.mark.parametrize("renormalise", [False, True])
def test_without_no_maps_is_plain_sampling(tiny32: Path, renormalise: bool) -> None:
    model = load(tiny32)
    z = z_from_seeds([0, 1, 2], 100)
    intact = generate(fg.without_maps(model, [], renormalise=renormalise), z, "running")
    torch.testing.assert_close(intact, generate(model.generator, z, "batch"), rtol=0, atol=0)


def test_renormalise_re_estimates_batchnorm_without_the_maps(tiny32: Path) -> None:
    model = load(tiny32)
    fixed = fg.without_maps(model, [0, 1, 2, 3])
    renorm = fg.without_maps(model, [0, 1, 2, 3], renormalise=True)
    below = (fixed.blocks[0][1].running_mean, renorm.blocks[0][1].running_mean)
    torch.testing.assert_close(*below)  # the dropped layer's own BatchNorm comes before the hook
    above = (fixed.blocks[1][1].running_mean, renorm.blocks[1][1].running_mean)
    assert (above[0] - above[1]).abs().max() > 1e-4
    r = fg.forget(model, BOXES, show=2, renormalize=True)
    assert r.renormalise and r.record()["renormalise"]
    z = z_from_seeds(r.shown, 100)
    torch.testing.assert_close(
        r.images["forget"],
        generate(fg.without_maps(model, r.dropped, renormalise=True), z, "running"),
    )


def test_dropped_maps_are_zero_and_change_the_image(tiny32: Path) -> None:
    model = load(tiny32)
    z = z_from_seeds([0, 1, 2], 100)
    g = fg.without_maps(model, [0, 3, 5], layer=2)
    with torch.no_grad():
        acts = g.intermediates(z)[1]  # the output of block 0: layer 2 from the top
    assert acts.shape == (3, 16, 8, 8)
    assert (acts[:, [0, 3, 5]] == 0).all() and (acts[:, [1, 2, 4]] != 0).any()
    changed = generate(g, z, "running")
    assert (changed - generate(model.generator, z)).abs().max() > 1e-3


def test_forget_drops_the_maps_of_positive_weight(tiny32: Path, tmp_path: Path) -> None:
    model = load(tiny32)
    r = fg.forget(model, BOXES, show=3)
    assert (r.maps, r.side) == (16, 8) and r.weights.shape == (16,)
    assert r.dropped == [i for i in range(16) if r.weights[i] > 0] and r.dropped
    assert len(r.control) == len(r.dropped)
    assert r.counts["positives"] == r.counts["negatives"] > 0
    assert r.shown == [0, 1, 3]  # boxed seeds only
    assert {k: v.shape for k, v in r.images.items()} == {k: (3, 1, 32, 32) for k in r.images}
    assert (r.images["G"] - r.images["forget"]).abs().max() > 1e-3
    png, record = r.save(tmp_path / "out")
    assert png.name == "forget.png" and Image.open(png).height > 3 * 32
    saved = json.loads(record.read_text())
    assert saved["dropped"] == r.dropped and saved["layer_shape"] == [16, 8, 8]
    assert saved["boxes"]["1"] == [[8.0, 8.0, 24.0, 20.0], [20.0, 0.0, 32.0, 6.0]]


def test_forget_without_positive_weights_is_a_no_op(tiny32: Path, monkeypatch) -> None:
    negative = (-torch.ones(16), {"positives": 1, "negatives": 1}, 0.5)
    monkeypatch.setattr(fg, "fit_weights", lambda *a, **k: negative)
    r = fg.forget(load(tiny32), BOXES, show=3)
    assert r.dropped == [] and r.control == []
    torch.testing.assert_close(r.images["forget"], r.images["G"], rtol=0, atol=0)


def test_hit_rates_count_detections(tiny32: Path) -> None:
    model = load(tiny32)
    r = fg.forget(model, BOXES, show=2)

    def bright(images: torch.Tensor) -> list[list[tuple]]:
        return [[(0, 0, 1, 1)] if x.mean() > m else [] for x in images]

    z = z_from_seeds(list(range(500, 540)), 100)
    m = generate(model.generator, z).mean()  # half of the intact samples count as hits
    rates = fg.hit_rates(model, r, bright, n=40, controls=2, first_seed=500)
    expected = sum(bool(b) for b in bright(generate(model.generator, z))) / 40
    assert rates["before"]["rate"] == expected and 0 < expected < 1
    assert len(rates["random"]["draws"]) == 2
    assert rates["random"]["maps"][0] == r.control
    assert rates["before"]["pixel_change"] == 0 and rates["after"]["pixel_change"] > 0
    assert r.record()["hit_rates"] == rates


def test_top_by_weight_keeps_the_largest_positive_weights(tiny32: Path) -> None:
    model = load(tiny32)
    every = fg.forget(model, BOXES, show=1)
    r = fg.forget(model, BOXES, show=1, top=2)
    assert len(every.dropped) > 2
    assert r.dropped == sorted(torch.argsort(every.weights, descending=True)[:2].tolist())
    assert r.record()["top"] == 2 and r.record()["rank"] == "weight"


def count_by_brightness(images: torch.Tensor) -> list[list[tuple]]:
    """A detector whose count of boxes grows with the image's brightness."""
    return [[(0, 0, 1, 1)] * int(10_000 * (x.mean() + 1)) for x in images]


def test_causal_rank_drops_the_maps_whose_single_drop_lowers_the_count_most(tiny32) -> None:
    model = load(tiny32)
    every = fg.forget(model, BOXES, show=1)
    r = fg.forget(model, BOXES, show=1, top=3, rank="causal", detector=count_by_brightness)
    falls = r.causal_falls
    assert sorted(falls) == every.dropped  # every map of weight > 0 is tried
    assert len(set(falls.values())) > 1  # the detector tells the maps apart
    assert r.dropped == sorted(sorted(falls, key=lambda m: -falls[m])[:3])
    # one map's fall, measured by hand on the boxed seeds
    m = r.dropped[0]
    z = fg.latents(model, [int(s) for s in BOXES])

    def mean_count(images: torch.Tensor) -> float:
        return sum(map(len, count_by_brightness(images))) / len(images)

    intact = generate(fg.without_maps(model, [], 2), z, "running")
    dropped = generate(fg.without_maps(model, [m], 2), z, "running")
    assert falls[m] == pytest.approx(mean_count(intact) - mean_count(dropped), abs=1e-4)


def test_causal_rank_needs_a_detector(tiny32: Path, boxes_file, tmp_path, capsys) -> None:
    with pytest.raises(DcganError, match="needs a detector"):
        fg.forget(load(tiny32), BOXES, top=2, rank="causal")
    with pytest.raises(DcganError, match="give --top N"):  # nothing for the order to choose
        fg.forget(load(tiny32), BOXES, rank="causal")
    path = boxes_file(json.dumps(BOXES))
    args = ["forget", str(tiny32), "--boxes", path, "--top", "2", "--rank", "causal"]
    assert main([*args, "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--detect or --auto" in err


@pytest.fixture
def boxes_file(tmp_path: Path):
    def write(text: str) -> str:
        path = tmp_path / "boxes.json"
        path.write_text(text)
        return str(path)

    return write


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"0": [[0, 0, 33, 4]]}', "not inside"),
        ('{"0": [[0, 0, 4, 4]],', "not a JSON file"),
        ('{"0-": [[0, 0, 4, 4]]}', "bad seed"),
        ('{"0": [[0, 0, 32, 32]]}', "none is left as a negative"),
    ],
)
def test_cli_bad_boxes_one_line_exit_2(tiny32, boxes_file, tmp_path, capsys, text, needle):
    args = ["forget", str(tiny32), "--boxes", boxes_file(text), "--out", str(tmp_path / "f.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize(
    "extra", [["--show", "0"], ["--auto", "eyes", "--n", "0"], ["--test-n", "-1"]]
)
def test_cli_bad_counts_one_line_exit_2(tiny32, boxes_file, tmp_path, capsys, extra) -> None:
    path = boxes_file(json.dumps(BOXES))
    args = ["forget", str(tiny32), "--out", str(tmp_path / "f.png"), *extra]
    assert main(args + ([] if "--auto" in extra else ["--boxes", path])) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "must be" in err
    assert not (tmp_path / "f.png").exists()


def test_cli_checkpoint_without_the_layer(tiny16, boxes_file, tmp_path, capsys) -> None:
    path = boxes_file(json.dumps({"0": [[0, 0, 8, 8]]}))
    assert main(["forget", str(tiny16), "--boxes", path, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no conv layer 2" in err


def test_cli_writes_figure_and_json(tiny32, boxes_file, tmp_path) -> None:
    out = tmp_path / "f.png"
    assert (
        main(["forget", str(tiny32), "--boxes", boxes_file(json.dumps(BOXES)), "--out", str(out)])
        == 0
    )
    assert out.exists() and json.loads(out.with_suffix(".json").read_text())["samples"] == 4


def test_eye_cascade_on_real_celeba_faces(shared: Path) -> None:
    """The eye detector finds eyes in the middle band of real aligned 64 px CelebA faces."""
    from dcgan.experiments.detect import EYE_ROWS, eyes

    with tarfile.open(shared / "celeba_aligned_00.tar") as tf:
        files = [m for m in tf.getmembers() if m.isfile()][:8]
        pixels = [
            np.asarray(fit_square(open_image(tf.extractfile(m).read(), 3), 64)) for m in files
        ]
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1
    found = eyes(images)
    assert len(found) == 8 and sum(bool(f) for f in found) >= 5
    for x0, y0, x1, y1 in [b for f in found for b in f]:
        assert 0 <= x0 < x1 <= 64 and EYE_ROWS[0] * 64 <= y0 < y1 <= EYE_ROWS[1] * 64 + 1
    boxes = fg.check_boxes({i: [list(b) for b in f] for i, f in enumerate(found)}, 64)
    assert sum(map(len, boxes.values())) == sum(map(len, found))
