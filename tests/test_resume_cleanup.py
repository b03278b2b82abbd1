"""Resume after a kill: temp files of the run are removed (a complete one is promoted),
a run killed before its first checkpoint starts over, a checkpoint file outside any run
directory starts a new run from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_training import assert_states_equal, tiny_config

from dcgan import TrainConfig
from dcgan.checkpoint import clean_run_dir, load_checkpoint
from dcgan.training import train


def _temps(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.name.endswith(".tmp")]


def test_stale_temp_files_are_removed_on_resume(tmp_path):
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    half = (run / "latest.pt").read_bytes()[:5000]  # a write killed half way
    (run / ".ckpt-00000006.pt.k1ll3d00.tmp").write_bytes(half)
    (run / ".latest.pt.tmp").write_bytes(half)
    (run / ".stats.jsonl.ab12cd34.tmp").write_text('{"step": 1}\n')
    (run / "samples" / ".step-00000006.png.zz99yy88.tmp").write_bytes(b"\x89PNG")
    (run / "notes.tmp").write_text("not ours: kept")
    resumed = train(tiny_config(tmp_path, steps=5), resume=run)
    assert resumed.step == 5 and _temps(run) == [run / "notes.tmp"]


def test_a_complete_temp_checkpoint_is_promoted(tmp_path):
    full = train(tiny_config(tmp_path / "a", steps=8)).run_dir
    run = train(tiny_config(tmp_path / "b", steps=3)).run_dir
    # Killed after the last byte of step 6's checkpoint, before its rename:
    ckpt6 = train(tiny_config(tmp_path / "c", steps=6)).run_dir / "ckpt-00000006.pt"
    shutil.copy(ckpt6, run / ".ckpt-00000006.pt.r3n4m3d0.tmp")
    assert clean_run_dir(run) == run / "ckpt-00000006.pt"
    assert load_checkpoint(run)["step"] == 6 and not _temps(run)
    resumed = train(TrainConfig(steps=8, progress=False), resume=run)
    assert resumed.step == 8
    assert_states_equal(load_checkpoint(full), load_checkpoint(run))


def test_an_older_or_foreign_temp_checkpoint_is_not_promoted(tmp_path):
    run = train(tiny_config(tmp_path, steps=6)).run_dir
    ckpt3 = run / "ckpt-00000003.pt"
    shutil.copy(ckpt3, run / ".ckpt-00000009.pt.wr0ng123.tmp")  # step 3 inside
    assert clean_run_dir(run) is None
    assert load_checkpoint(run)["step"] == 6 and not _temps(run)


def test_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path):
    fresh = train(tiny_config(tmp_path / "a", steps=4)).run_dir
    run = train(tiny_config(tmp_path / "b", steps=4)).run_dir
    for p in [*run.glob("*.pt")]:
        p.unlink()  # as if killed after config.json, before any checkpoint
    with pytest.warns(UserWarning, match="before its first checkpoint"):
        again = train(tiny_config(tmp_path / "b", steps=4), resume=run)
    assert again.run_dir == run and again.step == 4
    steps = [line.split(",")[0] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [f'{{"step": {i}' for i in range(1, 5)]
    assert_states_equal(load_checkpoint(fresh), load_checkpoint(run))


def test_resume_from_a_file_outside_any_run_starts_a_new_run(tmp_path):
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    loose = tmp_path / "shared" / "model.pt"
    loose.parent.mkdir()
    shutil.copy(run / "latest.pt", loose)
    resumed = train(tiny_config(tmp_path, steps=5, out=str(tmp_path / "runs2")), resume=loose)
    assert resumed.run_dir.parent == tmp_path / "runs2" and resumed.step == 5
    assert (resumed.run_dir / "config.json").is_file()
    assert sorted(p.name for p in loose.parent.iterdir()) == ["model.pt"]
    # A file inside a run directory continues that run.
    again = train(tiny_config(tmp_path, steps=4), resume=run / "ckpt-00000003.pt")
    assert again.run_dir == run
