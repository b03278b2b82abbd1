"""bench/augment_celeba.py --reuse: an earlier run's cells are taken over only at the same
settings, under the same extractor, and when one rerun seed reproduces them; anything else
is refused in one line, before a cell of it reaches the new table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import augment_celeba

    return augment_celeba


def record(bench, accuracy: float = 0.25, sha256: str | None = None, **changed) -> dict:
    """A results record of the bench at its default settings (with `changed` ones), two cells."""
    args = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(bench.Args()).items()}
    args.update(changed)
    runs = [
        {"seed": s, "kid": 0.1 + s, "d_real_held_out": 0.5, "d_real_train": 0.75, "d_fake": 0.9}
        for s in args["seeds"]
    ]
    extractor = {"accuracy": accuracy, **({"sha256": sha256} if sha256 else {})}
    cells = {
        f"1000/{arm}": {"images": 1000, "augment": arm, "runs": runs} for arm in ("none", "ada")
    }
    return {"args": args, "extractor": extractor, "cells": cells}


def write(path: Path, rec: dict) -> str:
    path.write_text(json.dumps(rec))
    return str(path)


def refused(exc: pytest.ExceptionInfo) -> str:
    """The message of a sys.exit, which must be one line."""
    message = str(exc.value.code)
    assert "\n" not in message
    return message


def test_same_settings_and_extractor_take_the_cells_over(bench, tmp_path) -> None:
    a = record(bench)
    b = record(bench)
    b["cells"] = {"5340/none": {**a["cells"]["1000/none"], "images": 5340}, **b["cells"]}
    b["cells"]["1000/none"] = {**b["cells"]["1000/none"], "augment": "from b"}
    # subsets, arms, json, work and threads may differ: a cell is keyed by its size and arm
    files = bench.reuse_files(
        ",".join([write(tmp_path / "a.json", a), write(tmp_path / "b.json", b)]),
        bench.Args(subsets=(1000,), arms="none", threads=2, work="elsewhere"),
    )
    cells = bench.taken_over(files, {"accuracy": 0.25, "sha256": "x"})
    assert set(cells) == {"1000/none", "1000/ada", "5340/none"}
    assert cells["1000/none"]["augment"] == "none"  # the first file that has a cell gives it
    assert cells["1000/none"]["from"] == str(tmp_path / "a.json")
    assert cells["5340/none"]["from"] == str(tmp_path / "b.json")
    assert cells["1000/ada"]["runs"] == a["cells"]["1000/ada"]["runs"]


@pytest.mark.parametrize(
    "changed",
    [
        {"size": 32},
        {"width": 32},
        {"steps": 600},
        {"batch_size": 32},
        {"seeds": [0, 1]},
        {"n_eval": 50},
    ],
)
def test_other_settings_are_refused(bench, tmp_path, changed) -> None:
    path = write(tmp_path / "old.json", record(bench, **changed))
    with pytest.raises(SystemExit) as e:
        bench.reuse_files(path, bench.Args())
    assert f"other settings ({next(iter(changed))})" in refused(e)


@pytest.mark.parametrize(
    "theirs, mine",
    [
        ({"accuracy": 0.26}, {"accuracy": 0.25, "sha256": "x"}),  # an old record: accuracy only
        ({"accuracy": 0.25, "sha256": "y"}, {"accuracy": 0.25, "sha256": "x"}),  # same accuracy
        ({"accuracy": 0.26, "sha256": "x"}, {"accuracy": 0.25, "sha256": "x"}),
    ],
)
def test_another_extractor_is_refused(bench, tmp_path, theirs, mine) -> None:
    old = record(bench)
    old["extractor"] = theirs
    files = bench.reuse_files(write(tmp_path / "old.json", old), bench.Args())
    with pytest.raises(SystemExit) as e:
        bench.taken_over(files, mine)
    assert "KIDs do not compare" in refused(e)


def test_one_file_with_another_extractor_refuses_them_all(bench, tmp_path) -> None:
    good = write(tmp_path / "good.json", record(bench, sha256="x"))
    bad = write(tmp_path / "bad.json", record(bench, accuracy=0.3))
    files = bench.reuse_files(f"{good},{bad}", bench.Args())
    with pytest.raises(SystemExit) as e:
        bench.taken_over(files, {"accuracy": 0.25, "sha256": "x"})
    assert bad in refused(e)


def test_what_is_not_a_results_file_is_refused(bench, tmp_path) -> None:
    (tmp_path / "text.json").write_text("not json")
    no_cells = record(bench)
    del no_cells["cells"]
    for path in (
        str(tmp_path / "absent.json"),
        str(tmp_path / "text.json"),
        write(tmp_path / "no_cells.json", no_cells),
    ):
        with pytest.raises(SystemExit) as e:
            bench.reuse_files(path, bench.Args())
        assert "not a results file of this script" in refused(e)


def test_a_rerun_seed_must_reproduce_every_judged_number(bench) -> None:
    run = record(bench)["cells"]["1000/none"]["runs"][0]
    assert bench.reproduced(run, dict(run)) == []
    for key in bench.JUDGED:
        assert bench.reproduced(run, {**run, key: run[key] + 1e-3}) == [key]


# The whole script on a tiny stand-in for the faces: the second run takes over the first
# run's cell (rerunning its first seed, which reproduces it) and runs only the new arm.

SIZE, POOL, HELD = 16, 40, 12


@pytest.fixture
def tiny(bench, tmp_path, monkeypatch):
    """main() on 40 random pool images and 12 held-out ones (4 identities), 16 px, 2 steps."""

    def faces(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = POOL + HELD
        images = np.random.default_rng(0).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
        numbers = np.r_[np.arange(1, POOL + 1), bench.FIRST_TEST + np.arange(HELD)]
        return images, numbers, np.arange(n) % 4

    tar = tmp_path / "celeba.tar"
    tar.write_bytes(b"")
    monkeypatch.setattr(bench, "TAR", tar)
    monkeypatch.setattr(bench, "IDENTITIES", tar)
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(bench, "read_faces", faces)

    def run(name: str, *more: str) -> dict:
        tiny_settings = ["--size", str(SIZE), "--width", "8", "--steps", "2", "--batch-size", "8"]
        tiny_settings += ["--subsets", "20", "--seeds", "0,1", "--n-eval", "8"]
        out = ["--work", str(tmp_path / name), "--json", str(tmp_path / f"{name}.json")]
        assert bench.main([*tiny_settings, *out, *more]) == 0
        return json.loads((tmp_path / f"{name}.json").read_text())

    threads = torch.get_num_threads()
    yield run
    torch.set_num_threads(threads)  # main() sets its --threads


def test_reuse_end_to_end(tiny, tmp_path) -> None:
    first = tiny("first", "--arms", "none")
    assert first["extractor"]["sha256"]
    second = tiny("second", "--arms", "none,diffaugment", "--reuse", str(tmp_path / "first.json"))
    same = ("accuracy", "sha256")  # the seeded extractor came out the same
    assert [second["extractor"][k] for k in same] == [first["extractor"][k] for k in same]
    taken = second["cells"]["20/none"]
    assert taken["from"] == str(tmp_path / "first.json")
    assert taken["reproduced"]["seed"] == 0
    assert taken["runs"] == first["cells"]["20/none"]["runs"]
    assert "from" not in second["cells"]["20/diffaugment"]

    # A file whose numbers this code does not reproduce is refused, and no table is written.
    bent = json.loads((tmp_path / "first.json").read_text())
    bent["cells"]["20/none"]["runs"][0]["kid"] += 0.01
    (tmp_path / "bent.json").write_text(json.dumps(bent))
    with pytest.raises(SystemExit) as e:
        tiny("third", "--arms", "none", "--reuse", str(tmp_path / "bent.json"))
    assert "seed 0 of 20/none came out other (kid)" in refused(e)
    assert not (tmp_path / "third.json").exists()

    # Nor are the cells of a file judged by another extractor.
    other = json.loads((tmp_path / "first.json").read_text())
    other["extractor"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit) as e:
        tiny("fourth", "--arms", "none", "--reuse", str(tmp_path / "other.json"))
    assert "extractor had other weights" in refused(e)
    assert not (tmp_path / "fourth.json").exists()
