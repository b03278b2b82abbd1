"""Evaluation during training: rows in stats.jsonl, best.pt, and an unchanged trajectory."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from test_training import assert_states_equal, tiny_config

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.training import train

EVAL = dict(eval_every=2, eval_metric="fid", eval_n=32, eval_extractor="mnist", ema=0.9)


def test_eval_keeps_best_and_leaves_training_unchanged(tmp_path: Path) -> None:
    plain = train(tiny_config(tmp_path / "a", ema=0.9, steps=5))
    watched = train(tiny_config(tmp_path / "b", steps=5, **EVAL))
    a, b = load_checkpoint(plain.run_dir), load_checkpoint(watched.run_dir)
    assert_states_equal(a, b)
    assert all(torch.equal(a["G_ema"][k], b["G_ema"][k]) for k in a["G_ema"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])

    rows = [json.loads(x) for x in (watched.run_dir / "stats.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval") == "fid"]
    assert [r["step"] for r in evals] == [2, 4, 5]  # every 2 steps, and the last one
    best = load_checkpoint(watched.run_dir / "best.pt")
    want = min(evals, key=lambda r: r["fid"])
    assert best["best"]["fid"] == want["fid"] and best["step"] == want["step"]
    assert (watched.run_dir / "losses.png").is_file()  # the plot skips the eval rows
    best_pt = str(watched.run_dir / "best.pt")
    cache = str(tmp_path / "b" / "cache")  # the run's: its data is prepared there already
    assert main(["evaluate", best_pt, "--extractor", "mnist", "--n", "16", "--cache", cache]) == 0


def test_resumed_run_keeps_its_best(tmp_path: Path) -> None:
    first = train(tiny_config(tmp_path, steps=4, **EVAL))
    train(tiny_config(tmp_path, steps=6), resume=first.run_dir)
    rows = [json.loads(x) for x in (first.run_dir / "stats.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval") == "fid"]
    assert [r["step"] for r in evals] == [2, 4, 6]
    best = min(evals, key=lambda r: r["fid"])  # the first of equals: a later one must beat it
    assert load_checkpoint(first.run_dir / "best.pt")["step"] == best["step"]
