"""The training watchdog (issue 26): health signals logged while training, alarms named by
what went wrong, and what --on-alarm does (warn, stop, rollback to healthy.pt); `dcgan
doctor` reaches the same verdicts afterwards."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import train_tiny

import dcgan.training
import dcgan.training_watchdog
import dcgan.watchdog
from dcgan import DcganError
from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.doctor import diagnose
from dcgan.health import filter_stats, near_copy_rate
from dcgan.outcome import TrainingStopped
from dcgan.plots import read_stats
from dcgan.report import write_report
from dcgan.watchdog import ALARMS, THRESHOLDS, Watchdog, replay

EVERY = 5  # probe every 5 steps in these tiny runs
# Their warm-up: 5 probes, as the default's 500 steps at the default probe every 100 steps
# (tests/test_watchdog_warmup.py trains past the real one).
SHORT = replace(THRESHOLDS, warmup=5 * EVERY)
# Probes taken before the collapse: past the warm-up, so an alarm may be raised at once.
FIRST_BAD = SHORT.warmup // EVERY + 2


@pytest.fixture
def short_warmup(monkeypatch) -> None:
    monkeypatch.setattr(dcgan.watchdog, "THRESHOLDS", SHORT)


pytestmark = pytest.mark.usefixtures("one_thread", "short_warmup")
COLLAPSED = {
    "diversity": 0.0,
    "pixel_diversity": 0.0,
    "near_copies": 1.0,
    "filters_collapsed": 1.0,
    "filters_oscillating": 1.0,
}


# A tiny run of a few dozen steps has not yet become varied (its diversity stays under the
# floor): outside a forced collapse the probe says it has, so that the collapse alone alarms.
VARIED = {"diversity": 1.0}


def collapse_probes(monkeypatch, first: int, count: int, bad: dict = COLLAPSED) -> None:
    """The probe's signals are `bad` for probes first .. first+count-1 (counted from 1 over
    the whole test), and the real ones, with a varied G's diversity, otherwise."""
    real = dcgan.training_watchdog.probe
    calls = {"n": 0}

    def probe(*args):
        calls["n"] += 1
        signals, means = real(*args)
        forced = bad if first <= calls["n"] < first + count else VARIED
        return {**signals, **forced}, means

    monkeypatch.setattr(dcgan.training_watchdog, "probe", probe)


def rows_of(run: Path, kind: str) -> list[dict]:
    return [r for r in read_stats(run) if r.get("kind") == kind]


def test_signals_are_logged_and_the_probe_leaves_training_unchanged(tmp_path: Path) -> None:
    watched = train_tiny(tmp_path / "a", steps=12, health_every=EVERY, log_every=4)
    bare = train_tiny(tmp_path / "b", steps=12, health_every=0, log_every=4)
    health = rows_of(watched, "health")
    assert [r["step"] for r in health] == [5, 10]
    for key in ("diversity", "near_copies", "filters_collapsed", "filters_oscillating"):
        assert all(0 <= r[key] < 10 for r in health), key
    assert {"D_x_mean", "D_G_z_mean", "grad_D_mean", "grad_G_mean", "real_as_real_mean"} <= (
        health[0].keys()
    )
    train_rows = [r for r in read_stats(watched) if "loss_D" in r]
    assert all(r["grad_D"] > 0 and 0 <= r["real_as_real"] <= 1 for r in train_rows)
    assert not rows_of(bare, "health")
    # The probe draws no random numbers and restores BatchNorm's statistics: same weights.
    a, b = load_checkpoint(watched), load_checkpoint(bare)
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_filter_and_copy_signals_measure_what_they_name() -> None:
    gen = torch.Generator().manual_seed(0)
    varied = torch.randn(64, 8, 4, 4, generator=gen)
    frozen = varied.clone()
    frozen[:, :6] = torch.randn(1, 6, 4, 4, generator=gen)  # 6 of 8 channels ignore z
    assert filter_stats([varied], None)[0] == 0.0
    collapsed, oscillating, means = filter_stats([frozen], None)
    assert collapsed == pytest.approx(6 / 8) and oscillating == 0.0
    moved = frozen.clone()
    moved[:, :3] += 5.0  # 3 of the frozen channels jump: they oscillate
    assert filter_stats([moved], means)[1] == pytest.approx(3 / 8)

    real = torch.rand(64, 1, 8, 8, generator=gen) * 2 - 1
    assert near_copy_rate(real.roll(1, 0), real) == 0.0  # distinct images
    copies = real[:4].repeat(16, 1, 1, 1)  # 4 images, 16 times each
    assert near_copy_rate(copies, real) == 1.0


def test_alarm_rules_need_a_fall_patience_and_warmup() -> None:
    t = THRESHOLDS  # the real ones: no alarm at a probe of the first t.warmup steps
    dog = Watchdog(every=100, thresholds=t)
    healthy = {"D_x_mean": 0.8, "D_G_z_mean": 0.2, "diversity": 1.0, "near_copies": 0.0}
    rows = [{"step": 100 * i, **healthy} for i in range(1, t.warmup // 100 + 2)]
    low = {**healthy, "diversity": t.diversity_drop / 2}
    rows += [{"step": 1000 + 100 * i, **low} for i in range(t.patience)]
    alarms = [a for r in rows for a in dog.check(r)]
    assert [a.name for a in alarms] == ["mode-collapse"]
    assert alarms[0].onset == 1000 and alarms[0].step == 1000 + 100 * (t.patience - 1)
    assert "mode-collapse at step" in alarms[0].line() and "roll back" in alarms[0].line()
    assert [a.name for a in replay(rows, t)] == ["mode-collapse"]
    # Early training's samples are all alike: diversity under the floor during the warm-up,
    # then above it, raises nothing; staying under it after the warm-up raises mode-collapse
    # at the first probe past it, however often the probe runs.
    low_early = {**healthy, "diversity": t.diversity_floor / 2}
    for every in (100, 20):
        steps = range(every, 1200, every)
        warm = [{"step": s, **(low_early if s <= t.warmup else healthy)} for s in steps]
        assert not replay(warm, t)
        alarms = replay([{"step": s, **low_early} for s in steps], t)
        assert [a.name for a in alarms] == ["mode-collapse"]
        assert (alarms[0].step, alarms[0].onset) == (t.warmup + every, every)
        assert "floor of a varied G" in alarms[0].line()
    # D rejects every sample: d-wins, whatever the samples look like.
    wins = {**healthy, "D_x_mean": 1.0, "D_G_z_mean": t.d_wins / 10}
    rows = [{"step": 100 * i, **(healthy if i <= 5 else wins)} for i in range(1, 12)]
    assert "d-wins" in [a.name for a in replay(rows, t)]
    assert set(ALARMS) >= {a.name for a in replay(rows, t)}


def test_the_watchdog_state_of_an_older_checkpoint_loads(monkeypatch) -> None:
    """Before the warm-up counted steps it counted probes: such a state still loads, its
    streaks and bests carry on, and the warm-up is now judged by the step."""
    monkeypatch.setattr(dcgan.watchdog, "THRESHOLDS", THRESHOLDS)  # the real warm-up
    old = {"probes": 7, "peak": 0.9, "least_copies": 0.0, "streaks": {"d-wins": [2, 200, 0]},
           "means": {"D_x": 0.99}, "channel_means": None, "rollbacks": 1}  # fmt: skip
    dog = Watchdog.from_state(100, old)
    assert "probes" not in dog.state()
    assert (dog.peak, dog.rollbacks, dog.streaks) == (0.9, 1, old["streaks"])
    wins = {"D_x_mean": 0.99, "D_G_z_mean": 0.01, "diversity": 1.0}
    assert not dog.check({"step": 300, **wins})  # 7 probes, but inside the first 500 steps
    alarms = Watchdog.from_state(100, dog.state()).check({"step": 600, **wins})
    assert [(a.name, a.onset) for a in alarms] == [("d-wins", 200)]


def test_warn_logs_alarms_and_doctor_reaches_the_same_verdict(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    collapse_probes(monkeypatch, FIRST_BAD, THRESHOLDS.patience + 1)
    steps = (FIRST_BAD + THRESHOLDS.patience + 2) * EVERY  # the collapse is over by then
    run = train_tiny(tmp_path, steps=steps, health_every=EVERY, checkpoint_every=EVERY)
    alarms = rows_of(run, "alarm")
    assert {"mode-collapse", "filter-collapse"} <= {a["name"] for a in alarms}
    assert all(a["action"] == "warn" for a in alarms)
    onset = FIRST_BAD * EVERY
    assert all(a["onset"] == onset for a in alarms)
    assert "dcgan: alarm " in capsys.readouterr().err
    # healthy.pt: the last checkpoint while no alarm condition held.
    assert load_checkpoint(run / "healthy.pt")["step"] == steps
    logged = [(a["name"], a["step"]) for a in alarms]
    assert [(a.name, a.step) for a in replay(rows_of(run, "health"))] == logged

    diagnosis = diagnose(run)
    assert not diagnosis.recomputed
    assert [(a.name, a.step) for a in diagnosis.alarms] == logged
    assert (run / "health.png").stat().st_size > 10_000
    code = main(["doctor", str(run)])
    out = capsys.readouterr().out
    assert code == 1  # alarms: a script can tell
    assert "alarm mode-collapse" in out and "health.png" in out
    page = write_report(run, n=4).read_text()
    assert "Health (the training watchdog" in page and "alarm mode-collapse at step" in page
    assert (run / "report" / "health.png").is_file()


def test_a_g_that_never_becomes_varied_raises_mode_collapse(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """Forced: the samples stay alike from the first probe on (diversity under the floor,
    near copies everywhere), with nothing to fall from; the alarm comes after the warm-up."""
    t = SHORT
    never = {"diversity": t.diversity_floor / 2, "near_copies": 1.0}
    collapse_probes(monkeypatch, 1, 100, never)
    steps = t.warmup + 2 * EVERY
    run = train_tiny(tmp_path, steps=steps, health_every=EVERY, checkpoint_every=EVERY)
    alarms = rows_of(run, "alarm")
    assert [(a["name"], a["step"], a["onset"]) for a in alarms] == [
        ("mode-collapse", t.warmup + EVERY, EVERY)
    ]
    assert "floor of a varied G" in capsys.readouterr().err
    assert [(a.name, a.step) for a in diagnose(run).alarms] == [
        ("mode-collapse", alarms[0]["step"])
    ]
    assert not (run / "healthy.pt").exists()  # no probe was ever clear


def test_stop_saves_and_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    collapse_probes(monkeypatch, FIRST_BAD, 100)
    with pytest.raises(TrainingStopped, match="stopped at step .* by the watchdog"):
        train_tiny(tmp_path / "api", steps=60, health_every=EVERY, on_alarm="stop")
    run = next((tmp_path / "api" / "runs").iterdir())
    stop_step = (FIRST_BAD + THRESHOLDS.patience - 1) * EVERY
    assert load_checkpoint(run)["step"] == stop_step

    collapse_probes(monkeypatch, FIRST_BAD, 100)
    args = ["train", "--data", "digits", "--size", "16", "--ngf", "8", "--ndf", "8"]
    args += ["--batch-size", "16", "--steps", "60", "--health-every", str(EVERY)]
    args += ["--on-alarm", "stop", "--out", str(tmp_path / "cli"), "--no-progress"]
    args += ["--cache", str(tmp_path / "cache")]
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("dcgan: error: stopped at step") and "Traceback" not in err


def test_rollback_goes_back_to_healthy_with_a_change_and_finishes(
    tmp_path: Path, monkeypatch
) -> None:
    collapse_probes(monkeypatch, FIRST_BAD, THRESHOLDS.patience)
    run = train_tiny(
        tmp_path,
        steps=50,
        health_every=EVERY,
        checkpoint_every=EVERY,
        on_alarm="rollback",
        seed=3,
    )
    back = rows_of(run, "rollback")
    assert len(back) == 1
    healthy_step = (FIRST_BAD - 1) * EVERY  # the last probe before the onset
    assert back[0]["step"] == healthy_step
    assert back[0]["from_step"] == (FIRST_BAD + THRESHOLDS.patience - 1) * EVERY
    config = json.loads((run / "config.json").read_text())
    assert config["lr_g"] == config["lr_d"] == pytest.approx(1e-4)  # 2e-4 halved
    assert config["seed"] == 4
    # The abandoned rows moved aside; the log runs forward again from the healthy step.
    abandoned = [json.loads(ln) for ln in (run / "rollbacks" / "attempt-1.jsonl").open()]
    assert abandoned and all(r["step"] > healthy_step for r in abandoned)
    steps = [r["step"] for r in read_stats(run) if "loss_D" in r]
    assert steps == sorted(steps) and steps[-1] == 50
    final = load_checkpoint(run)
    assert final["step"] == 50 and final["health"]["rollbacks"] == 1
    assert not list(run.glob(".*.tmp"))


def test_rollback_without_a_healthy_checkpoint_stops(tmp_path: Path, monkeypatch) -> None:
    collapse_probes(monkeypatch, FIRST_BAD, 100)
    with pytest.raises(TrainingStopped, match="no checkpoint was taken before the trouble began"):
        train_tiny(
            tmp_path, steps=60, health_every=EVERY, on_alarm="rollback", checkpoint_every=1000
        )


def test_resume_keeps_the_watchdog_settings(tmp_path: Path) -> None:
    run = train_tiny(tmp_path, steps=4, health_every=2, on_alarm="stop", max_rollbacks=1)
    code = main(["train", "--resume", str(run), "--steps", "6", "--no-progress"])
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["health_every"], config["on_alarm"], config["max_rollbacks"]) == (2, "stop", 1)
    code = main(["train", "--resume", str(run), "--steps", "8", "--on-alarm", "warn"])
    assert json.loads((run / "config.json").read_text())["on_alarm"] == "warn"


def test_doctor_recomputes_a_run_trained_without_the_watchdog(tmp_path: Path, capsys) -> None:
    run = train_tiny(tmp_path, steps=12, health_every=0, checkpoint_every=4, keep=10, log_every=2)
    diagnosis = diagnose(run, cache=str(tmp_path / "cache"))
    assert diagnosis.recomputed
    assert [r["step"] for r in diagnosis.rows] == [4, 8, 12]
    assert all("diversity" in r and "D_x_mean" in r for r in diagnosis.rows)
    assert not diagnosis.alarms  # 12 steps are inside the warm-up: not yet varied is no alarm
    assert diagnosis.figure is not None and diagnosis.figure.is_file()

    with pytest.raises(DcganError, match="not a run directory"):
        diagnose(tmp_path)
    assert main(["doctor", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a run directory" in err


KILLED_IN_ROLLBACK = """
import dataclasses, os, sys
sys.path.insert(0, {tests!r})
import dcgan.rundir, dcgan.training_watchdog, dcgan.watchdog
dcgan.watchdog.THRESHOLDS = dataclasses.replace(dcgan.watchdog.THRESHOLDS, warmup={warmup})
from conftest import train_tiny
from pathlib import Path
real_probe, calls = dcgan.training_watchdog.probe, [0]

def probe(*args):
    calls[0] += 1
    signals, means = real_probe(*args)
    forced = {collapsed!r} if calls[0] >= {first} else {varied!r}
    return {{**signals, **forced}}, means

real = getattr(dcgan.rundir.RunDir, {kill_after!r})

def killed(self, *args):
    real(self, *args)
    os._exit(137)  # killed half-way through the rollback

dcgan.training_watchdog.probe = probe
setattr(dcgan.rundir.RunDir, {kill_after!r}, killed)
train_tiny(Path({tmp!r}), steps=50, health_every=5, checkpoint_every=5, on_alarm="rollback")
"""


@pytest.mark.parametrize("kill_after", ["drop_checkpoints_after", "archive_rows_after"])
def test_a_run_killed_during_a_rollback_resumes(
    tmp_path: Path, monkeypatch, kill_after: str
) -> None:
    import subprocess
    import sys

    code = KILLED_IN_ROLLBACK.format(
        tests=str(Path(__file__).parent),
        collapsed=COLLAPSED,
        varied=VARIED,
        first=FIRST_BAD,
        warmup=SHORT.warmup,
        tmp=str(tmp_path),
        kill_after=kill_after,
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 137, killed.stderr
    run = next((tmp_path / "runs").iterdir())
    rolled = load_checkpoint(run)["health"]["rollbacks"]
    assert rolled == (kill_after == "archive_rows_after")  # the save came between the two
    collapse_probes(monkeypatch, 0, 0)  # resumed, G stays varied as before the kill
    result = dcgan.training.train(resume=run)
    assert result.step == 50
    steps = [r["step"] for r in read_stats(run) if "loss_D" in r]
    assert steps == sorted(steps) and steps[-1] == 50
    assert load_checkpoint(run)["step"] == 50
    assert not list(run.glob(".*.tmp"))


def test_a_discriminator_that_overpowers_g_raises_d_wins(tmp_path: Path) -> None:
    """Real dynamics, no forced signal: D's learning rate 50x G's (paper §4's recipe broken)
    drives D(G(z)) to 0 within a few dozen steps."""
    run = train_tiny(tmp_path, steps=60, health_every=EVERY, lr_d=1e-2)
    assert "d-wins" in {a["name"] for a in rows_of(run, "alarm")}


@pytest.mark.parametrize(
    ("alarm", "lr_g", "lr_d"), [("d-wins", 1e-4, 2e-4), ("mode-collapse", 5e-5, 2e-4)]
)
def test_a_rollback_brings_the_rates_to_the_papers(
    tmp_path: Path, alarm: str, lr_g: float, lr_d: float
) -> None:
    """Paper §4's 2e-4 caps both rates; d-wins slows D alone, other alarms both."""
    from dcgan import ModelConfig, TrainConfig
    from dcgan.training import Trainer

    config = TrainConfig(
        data="digits",
        out=str(tmp_path / "runs"),
        model=ModelConfig(size=16, channels=1, ngf=8, ndf=8),
        lr_g=1e-4,
        lr_d=1e-3,
        beta1=0.9,
        cache=str(tmp_path / "cache"),
        progress=False,
    )
    trainer = Trainer(config)
    change = trainer.restart(trainer.state(), alarm)
    assert change["lr_g"] == pytest.approx(lr_g) and change["lr_d"] == pytest.approx(lr_d)
    assert change["beta1"] == 0.5 and change["seed"] == 1
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(lr_d)
    assert trainer.opt_g.param_groups[0]["betas"][0] == 0.5


def test_doctor_and_report_skip_lines_they_cannot_read(tmp_path: Path, monkeypatch) -> None:
    collapse_probes(monkeypatch, FIRST_BAD, THRESHOLDS.patience)
    run = train_tiny(tmp_path, steps=50, health_every=EVERY, checkpoint_every=EVERY)
    before = [(a.name, a.step) for a in diagnose(run).alarms]
    with (run / "stats.jsonl").open("a") as log:  # a hand-edited or foreign log
        log.write('{"kind": "health", "step": "x", "diversity": 0}\n')
        log.write('{"kind": "health", "step": 60, "diversity": "high"}\n')
        log.write('{"kind": "alarm", "step": 60, "name": "mode-collapse"}\n')
        log.write('{"step": 61, "D_x": null, "D_G_z": 0.5}\n')
        log.write("[1, 2]\n")
    assert [(a.name, a.step) for a in diagnose(run).alarms] == before
    assert diagnose(run, recompute=True, cache=str(tmp_path / "cache")).recomputed
    assert "alarm mode-collapse at step" in write_report(run, n=4).read_text()
