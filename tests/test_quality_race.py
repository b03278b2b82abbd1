"""bench/quality_race.py without training: the dataset switch refuses what it does not know,
and --replot joins the runs of seeds raced in separate invocations (--extra, --merged)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def race(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    import harness
    import quality_race

    monkeypatch.setattr(harness, "RESULTS", tmp_path)

    def main(*argv: str) -> None:
        monkeypatch.setattr(sys, "argv", ["bench/quality_race.py", *argv])
        quality_race.main()

    return main


def record(seeds: list[int], n: int = 4) -> dict:
    def point(k: int, seed: int) -> dict:
        return {"wall_s": 60.0 * k, "images": 500 * k, "fid": 300.0 + seed, "kid_mean": 0.3}

    runs = [
        {"loop": loop, "seed": s, "points": [point(k, s) for k in (1, 2)]}
        for s in seeds
        for loop in ("dcgan", "reference")
    ]
    control = {"fid": 60.0, "kid_mean": 0.002, "kid_std": 0.001}
    return {
        **{"dataset": "celeba", "n_samples": n, "n_reference": 5, "minutes": 2.0},
        **{"extractor": "inception", "control": control, "command": f"race {seeds}"},
        **{"seconds": 10.0, "runs": runs},
    }


def test_unknown_dataset_is_a_one_line_error(race) -> None:
    with pytest.raises(SystemExit, match="--data mnist: choose one of cifar, celeba"):
        race("--data", "mnist")


def test_replot_merges_the_seeds_of_two_invocations(race, tmp_path, capsys) -> None:
    (tmp_path / "a.json").write_text(json.dumps(record([0, 1])))
    (tmp_path / "b.json").write_text(json.dumps(record([2])))
    figure = tmp_path / "race.png"
    race("--replot", "--out", "a", "--extra", "b", "--merged", "ab", "--plot", str(figure))
    joined = json.loads((tmp_path / "ab.json").read_text())
    assert [(r["loop"], r["seed"]) for r in joined["runs"]] == [
        ("dcgan", 0),
        ("reference", 0),
        ("dcgan", 1),
        ("reference", 1),
        ("dcgan", 2),
        ("reference", 2),
    ]
    assert joined["seconds"] == 20.0 and joined["command"] == "race [0, 1] && race [2]"
    assert figure.stat().st_size > 0
    table = capsys.readouterr().out
    assert "301.0 ± 1.0" in table  # FID over the three seeds (300, 301, 302)


def test_replot_refuses_runs_made_under_other_conditions(race, tmp_path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(record([0])))
    (tmp_path / "b.json").write_text(json.dumps(record([1], n=8)))
    with pytest.raises(SystemExit, match="--extra b: not made under the same conditions"):
        race("--replot", "--out", "a", "--extra", "b", "--plot", "")
