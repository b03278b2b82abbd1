"""The landmark concepts of `arithmetic --auto glasses|mouth-open`, `turn --pose landmarks`
and `forget --auto landmark-eyes` (dcgan.experiments.concepts), the same functions that
bench/digiface_latent.py measures; on the DigiFace generator of the shared data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED

from dcgan.cli import main
from dcgan.errors import DcganError
from dcgan.experiments import concepts
from dcgan.experiments.concepts import attribute_concepts, monotone_share, yaw_ends
from dcgan.experiments.landmarks import Face


def face(found: bool = True, yaw: float = 0.0, mouth: float = 0.0, bridge: float = 0.0) -> Face:
    return Face(np.zeros((68, 2)), found, yaw, mouth, bridge)


def test_exemplars_are_the_clearest_with_and_without() -> None:
    bridges = [0.9, 0.1, 0.5, 0.2, 0.7, 0.05, 0.3, 0.6, 0.0, 0.15, 0.99]
    found = [face(bridge=b) for b in bridges]
    found[-1] = face(found=False, bridge=0.99)  # unfound faces are never exemplars
    c = attribute_concepts(list(range(11)), found, "glasses")
    assert c == {"A": [0, 4, 7], "B": [8, 5, 1], "C": [9, 3, 6]}
    with pytest.raises(DcganError, match="only 2 faces with glasses"):
        attribute_concepts([0, 1, 2], [face(bridge=0.9)] * 2 + [face()], "glasses")
    with pytest.raises(DcganError, match="unknown attribute"):
        attribute_concepts([0], [face()], "hat")


def test_turn_ends_and_the_monotone_rule() -> None:
    found = [face(yaw=y) for y in (10, -30, 5, 40, -2)] + [face(False, yaw=99)]
    assert yaw_ends(list(range(6)), found, 2) == ([1, 4], [0, 3])
    with pytest.raises(DcganError, match="only 5 faces were found"):
        yaw_ends(list(range(6)), found, 3)
    rows = np.array(
        [
            [-10, -5, 0, 5, 10],  # +20, monotone
            [-10, 0, -4, 5, 10],  # +20, a 4-degree step back: within the tolerance
            [-10, 0, -6, 5, 10],  # a 6-degree step back
            [-5, -2, 0, 2, 5],  # +10 only
            [10, 5, 0, -5, -10],  # -20: the other way
            [0, np.nan, 0, 10, 20],  # a frame without a yaw
        ]
    )
    assert monotone_share(rows, 1) == pytest.approx(2 / 6)
    assert monotone_share(rows, 1, 0.0) == pytest.approx(1 / 6)
    assert monotone_share(rows, None) == pytest.approx(3 / 6)


def test_missing_landmarks_extra_is_one_line_before_loading(monkeypatch, tmp_path, capsys):
    from dcgan.experiments import landmarks

    landmarks._models.cache_clear()  # a predictor loaded by an earlier test hides the block
    monkeypatch.setitem(sys.modules, "dlib", None)
    hint = 'dlib is not installed: pip install "dcgan[landmarks]"'
    for argv in (
        ["turn", str(tmp_path / "x.pt")],
        ["arithmetic", str(tmp_path / "x.pt"), "--auto", "mouth-open"],
        ["forget", str(tmp_path / "x.pt"), "--auto", "landmark-eyes"],
    ):
        assert main([*argv, "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err == f"dcgan: error: {hint}\n"
    landmarks._models.cache_clear()


# On the DigiFace generator -----------------------------------------------------------------


@pytest.fixture(scope="module")
def digiface(tmp_path_factory) -> Path:
    pytest.importorskip("dlib", reason='landmarks need dlib-bin: pip install "dcgan[landmarks]"')
    weights = SHARED / "pretrained/digiface64_dcgan/weights.tar"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent")
    from dcgan.torch_examples import convert_examples

    out = tmp_path_factory.mktemp("digiface") / "digiface.pt"
    convert_examples(weights, out)
    torch.set_num_threads(1)
    return out


def test_turn_by_landmark_yaw_turns_rows_the_profile_cascade_does_not(digiface, tmp_path):
    """The user's `dcgan turn digiface.pt --bn running --scale 2`, on a smaller pool and
    fewer rows: the profile cascade's vector turns no row, the landmarks' vector does."""
    small = ["--bn", "running", "--scale", "2", "--rows", "4", "--pool", "200", "--ends", "10"]
    out = {}
    for pose in ("landmarks", "profile"):
        argv = ["turn", str(digiface), *small, "--pose", pose, "--out", str(tmp_path / pose)]
        assert main(argv) == 0
        out[pose] = json.loads((tmp_path / pose / "turn.json").read_text())
    landmarks, profile = out["landmarks"], out["profile"]
    assert landmarks["pose"] == "landmarks" and len(landmarks["left"]) == 10
    assert landmarks["turn_success"] > profile["turn_success"]
    assert landmarks["turn_success"] >= 0.5
    # the vector's rows turn more often than random directions of its norm
    assert landmarks["turn_success"] > landmarks["turn_success_random"]["mean"]
    assert np.mean(np.array(landmarks["yaw_rows_deg"])[:, -1]) > 0  # right-turned at +v


def test_arithmetic_auto_glasses_end_to_end(digiface, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(concepts, "AUTO_POOL", 200)
    monkeypatch.setattr(concepts, "CONTROL_DRAWS", 2)
    argv = ["arithmetic", str(digiface), "--bn", "running", "--auto", "glasses"]
    assert main([*argv, "--test-n", "20", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "glasses rate of 20 faces without it" in said
    test = json.loads((tmp_path / "arithmetic.glasses.json").read_text())
    record = json.loads((tmp_path / "arithmetic.json").read_text())
    assert record["concepts"]["A"] == test["exemplars"]["with"]
    assert len(set(test["test_seeds"]) & set(range(200))) == 0  # new faces, not the pool
    assert test["rate_with_vector"] > test["rate_with_random"]["mean"]


def test_forget_auto_landmark_eyes_boxes_found_faces(digiface, tmp_path, capsys):
    argv = ["forget", str(digiface), "--bn", "running", "--auto", "landmark-eyes"]
    assert main([*argv, "--n", "30", "--test-n", "20", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "eyes hit rate on 20 samples" in said  # the Haar cascade, independent of the boxes
    boxes = json.loads((tmp_path / "forget.json").read_text())["boxes"]
    boxed = [bs for bs in boxes.values() if bs]
    assert len(boxes) == 30 and len(boxed) >= 10 and all(len(bs) == 2 for bs in boxed)
    for x0, y0, x1, y1 in (b for bs in boxed for b in bs):
        assert 0 <= x0 < x1 <= 64 and 5 <= y0 < y1 <= 50  # eyes lie in the upper face
