"""The README's resume flow, exactly as written: Ctrl-C, then `dcgan train --resume RUN` as
the run prints it, with no flag retyped; and the same rules in the Python API."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_training import assert_states_equal, tiny_config

import dcgan.checkpoint
import dcgan.training
from dcgan import DcganError, ModelConfig, TrainConfig
from dcgan.checkpoint import load_checkpoint
from dcgan.training import TrainingInterrupted, train

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}
# A 16 px run of width 8 on the embedded digits: about 0.05 s a step.
FLAGS = ["--data", "digits", "--size", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "32"]
FLAGS += ["--checkpoint-every", "100000", "--log-every", "1"]  # progress bars on, as a user has


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=600,
    )


def interrupt_after(args: list[str], cwd: Path, logged: int) -> tuple[int, str, str]:
    """Start `dcgan train ARGS`, Ctrl-C it once `logged` steps are in its log."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcgan", "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=cwd,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        logs = list(cwd.glob("runs/*/stats.jsonl"))
        if logs and len(logs[0].read_text().splitlines()) >= logged:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_readme_flow_ctrl_c_then_the_printed_command_is_bit_identical(tmp_path: Path) -> None:
    """The run is started with --steps 60, interrupted, and resumed by the command it prints
    alone: it must stop at step 60 (not the default 5 epochs) with the weights of a run that
    was never interrupted."""
    cache = ["--cache", str(tmp_path / "cache")]
    args = [*FLAGS, *cache, "--steps", "60", "--out", "runs"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = cli("train", *args, cwd=tmp_path / "a")
    assert full.returncode == 0, full.stderr

    code, out, err = interrupt_after(args, tmp_path / "b", logged=5)
    assert code == 130, err
    assert "interrupted: finishing this step, then saving a checkpoint" in err
    printed = [ln for ln in out.splitlines() if ln.startswith("resume with: ")]
    assert len(printed) == 1, out
    command = shlex.split(printed[0].removeprefix("resume with: "))
    assert command[:3] == ["dcgan", "train", "--resume"]
    stopped = load_checkpoint(tmp_path / "b" / command[3])["step"]
    assert 5 <= stopped < 60

    resumed = cli(*command[1:], cwd=tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished at step 60" in resumed.stdout
    a = load_checkpoint(next((tmp_path / "a" / "runs").iterdir()))
    b = load_checkpoint(tmp_path / "b" / command[3])
    assert a["step"] == b["step"] == 60
    assert_states_equal(a, b)


def test_resume_of_a_finished_run_trains_nothing_and_keeps_its_checkpoint(tmp_path) -> None:
    """A --steps 3 run resumed with --resume alone ran on to the default 5 epochs (step 224)
    and rotated the step-3 state away."""
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    resumed = cli("train", "--resume", str(run), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "already at its limit (--steps 3) at step 3" in resumed.stdout
    assert load_checkpoint(run)["step"] == 3 and (run / "ckpt-00000003.pt").is_file()
    # A limit given on resume replaces the run's; the next resume keeps the new one.
    assert train(TrainConfig(steps=5, progress=False), resume=run).step == 5
    assert train(TrainConfig(progress=False), resume=run).trained == 0


def test_time_limit_counts_the_whole_run(tmp_path: Path) -> None:
    """Minutes of training summed over sessions: a limit already spent trains nothing."""
    run = train(tiny_config(tmp_path, steps=3)).run_dir
    spent = load_checkpoint(run)["elapsed"]
    assert spent > 0
    again = train(TrainConfig(time_limit=spent / 60 / 2, progress=False), resume=run)
    assert again.trained == 0 and again.step == 3
    longer = train(TrainConfig(time_limit=spent / 60 + 1, steps=4, progress=False), resume=run)
    assert longer.step == 4 and load_checkpoint(run)["elapsed"] > spent


def test_api_raises_on_ctrl_c_after_saving(tmp_path: Path, monkeypatch) -> None:
    """train() returned normally after Ctrl-C, and scripts went on with a half-trained G."""
    real_step = dcgan.training.train_step
    calls = {"n": 0}

    def step_then_ctrl_c(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(dcgan.training, "train_step", step_then_ctrl_c)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tiny_config(tmp_path, steps=50))
    assert isinstance(stopped.value, KeyboardInterrupt)
    result = stopped.value.result
    assert result.interrupted and result.step == 2 and result.exit_code == 130
    assert load_checkpoint(result.run_dir)["step"] == 2
    monkeypatch.undo()
    assert train(TrainConfig(progress=False), resume=result.run_dir).step == 50


def test_api_refuses_what_the_cli_refuses_on_resume(tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path, steps=2)).run_dir
    changed = tiny_config(tmp_path, model=ModelConfig(size=16, channels=1, ngf=16, ndf=8))
    changed.lr, changed.seed = 0.1, 99
    with pytest.raises(DcganError, match=r"^lr 0.1, ngf 16, seed 99: cannot change on resume"):
        train(changed, resume=run)
    assert load_checkpoint(run)["step"] == 2


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"out": ""}, "out is empty"),
        ({"out": "  "}, "out is empty"),
        ({"data": ""}, "the data source is empty"),
        ({"data": None}, "data must be text"),
        ({"data": 123}, "data must be text"),
    ],
)
def test_api_config_refusals_are_one_line(fields: dict, message: str) -> None:
    with pytest.raises(DcganError, match=message):
        TrainConfig(**fields)


def test_api_takes_a_config_not_a_name() -> None:
    with pytest.raises(DcganError, match="train\\(\\) takes a TrainConfig, got str"):
        train("digits")  # type: ignore[arg-type]


def test_a_path_object_is_taken_as_its_text(tmp_path: Path) -> None:
    assert TrainConfig(out=tmp_path / "runs").out == str(tmp_path / "runs")


def test_resume_of_a_loose_checkpoint_starts_a_new_run_under_out(tmp_path: Path) -> None:
    """--resume FILE --out DIR was refused as a change, while the docs said it starts a new
    run under --out."""
    run = train(tiny_config(tmp_path, steps=2)).run_dir
    loose = tmp_path / "model.pt"
    loose.write_bytes((run / "latest.pt").read_bytes())
    got = cli(
        "train", "--resume", str(loose), "--out", "newruns", "--steps", "3", "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    (new,) = (tmp_path / "newruns").iterdir()
    assert load_checkpoint(new)["step"] == 3 and load_checkpoint(run)["step"] == 2


def test_a_failed_first_checkpoint_says_none_was_kept(tmp_path: Path, monkeypatch) -> None:
    def full_disk(obj, f):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dcgan.checkpoint.torch, "save", full_disk)
    with pytest.raises(DcganError, match="No space left.*no earlier checkpoint exists"):
        train(tiny_config(tmp_path, steps=3))


def test_help_shows_the_default_limit(capsys) -> None:
    from dcgan.cli import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "no limit given: 5 epochs" in text and "--resume: the run's limits" in text


def test_progress_under_a_time_limit_has_a_total_and_announces_long_runs(monkeypatch, capsys):
    import dcgan.progress as progress

    clock = {"now": 1000.0}
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock["now"])
    # A time limit only: 10 minutes at 0.5 s a step -> the bar ends near step 1,200.
    bar = progress.Progress(0, progress.UNBOUNDED, 600, 0.0, enabled=False, announce=True)
    assert bar.bar.total is None
    for step in range(1, 31):
        clock["now"] += 0.5
        bar.update(step)
    assert 1150 <= bar.bar.total <= 1250
    assert "takes about" not in capsys.readouterr().err  # 10 minutes: not announced
    # 100,000 steps at 0.5 s: about 14 h, said once, with how to stop sooner.
    long = progress.Progress(0, 100_000, None, 0.0, enabled=False, announce=True)
    for step in range(1, 61):
        clock["now"] += 0.5
        long.update(step)
    err = capsys.readouterr().err
    assert err.count("takes about 13h 53m") == 1 and "--time-limit" in err
