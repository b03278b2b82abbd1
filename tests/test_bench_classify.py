"""bench/classify_cifar_ablation.py: the length curve keeps each (width, precision, run) apart."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def ablation(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import classify_cifar_ablation

    return classify_cifar_ablation


def row(width: int, epochs: float | None, mean: float, variant: str, **extra) -> dict:
    return dict(width=width, epochs=epochs, mean=mean, variant=variant, **extra)


def test_length_curves_split_by_width_precision_and_run(ablation, tmp_path: Path) -> None:
    paper, random_d = list(ablation.VARIANTS)[0], ablation.RANDOM
    rows = [
        row(128, 18.3, 54.9, paper),  # an older report's row: no precision, made in fp32
        row(128, 9.1, 52.2, paper),
        row(128, 9.1, 49.6, random_d),
        row(128, 9.1, 53.0, paper, precision="bf16"),
        row(128, 4.6, 50.0, paper, precision="bf16"),
        row(128, 9.1, 52.6, paper, precision="bf16", run="second CPU"),
        row(64, 64.0, 59.8, paper, precision="fp32"),
        row(64, 64.0, 58.0, "layer 3, 4x4", precision="fp32"),
        row(64, None, 60.0, paper, precision="fp32"),  # data not on disk: no epochs
    ]
    curves = ablation.curves(rows)
    assert list(curves) == [
        (64, "fp32", ""),
        (128, "bf16", ""),
        (128, "bf16", "second CPU"),
        (128, "fp32", ""),
    ]
    assert curves[(128, "fp32", "")] == [(9.1, 52.2), (18.3, 54.9)]
    assert curves[(128, "bf16", "")] == [(4.6, 50.0), (9.1, 53.0)]
    assert curves[(128, "bf16", "second CPU")] == [(9.1, 52.6)]
    assert curves[(64, "fp32", "")] == [(64.0, 59.8)]
    png = ablation.plot_length(rows, 400, tmp_path / "length.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_names_a_report_that_exists(ablation) -> None:
    with pytest.raises(SystemExit, match="--compare no_such_report"):
        ablation.report_rows("no_such_report")
