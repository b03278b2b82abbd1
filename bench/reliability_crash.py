"""Interruption trials of bench/reliability.py: kill -9 at a random point then resume,
a second signal during the final checkpoint, a full disk under a checkpoint write. Each
runs `dcgan train` in a fresh process on a tiny model over scikit-learn's digits."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from harness import ROOT

from dcgan.checkpoint import load_checkpoint
from dcgan.errors import DcganError

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
MODEL = ["--data", "digits", "--size", "32", "--ngf", "16", "--ndf", "16", "--batch-size", "16"]
QUIET = ["--log-every", "1", "--no-progress"]
STEPS, EVERY = 16, 4


def dcgan(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dcgan", *args]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def train_args(out: Path, cache: Path, steps: int = STEPS, every: int = EVERY) -> list[str]:
    return ["train", *MODEL, *QUIET, "--steps", str(steps), "--checkpoint-every", str(every),
            "--out", str(out), "--cache", str(cache)]  # fmt: skip


def run_dir(out: Path) -> Path | None:
    runs = sorted(p for p in out.glob("*") if (p / "config.json").is_file())
    return runs[-1] if runs else None


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def logged_steps(run: Path | None) -> list[int]:
    steps = []
    if run is not None and (run / "stats.jsonl").is_file():
        for line in (run / "stats.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                steps.append(json.loads(line)["step"])
    return steps


def loadable_step(path: Path) -> int | None:
    try:
        return load_checkpoint(path)["step"]
    except DcganError:
        return None


def same_state(a: dict, b: dict) -> bool:
    nets = all(torch.equal(a[n][k], b[n][k]) for n in ("G", "D") for k in a[n])
    opts = all(
        torch.equal(v, b[o]["state"][i][k])
        for o in ("opt_G", "opt_D")
        for i, s in a[o]["state"].items()
        for k, v in s.items()
    )
    return nets and opts


# --- kill -9 ------------------------------------------------------------------------------


def reference(root: Path, cache: Path) -> dict:
    """The final state of an uninterrupted run."""
    proc = dcgan(*train_args(root / "reference", cache))
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(err)
    return load_checkpoint(run_dir(root / "reference"))


def kill_trial(out: Path, cache: Path, target: int, extra: float, ref: dict) -> dict:
    """kill -9 once step `target` is logged (0: as soon as the run directory exists), plus
    `extra` seconds: the kill lands anywhere in a step, a log write or a checkpoint save."""
    proc = dcgan(*train_args(out, cache))
    while proc.poll() is None:
        run = run_dir(out)
        if run is not None and (target == 0 or max(logged_steps(run), default=0) >= target):
            break
        time.sleep(0.005)
    time.sleep(extra)
    proc.kill()
    proc.communicate()
    run = run_dir(out)
    done = max(logged_steps(run), default=0)
    left = temps(out)
    ckpts = sorted(run.glob("ckpt-*.pt")) + [run / "latest.pt"] if run else []
    corrupt = sum(1 for p in ckpts if p.exists() and loadable_step(p) is None)
    # Where the resume will start: the newest whole checkpoint, or a complete temp one.
    candidates = [loadable_step(p) for p in ckpts if p.exists()]
    complete = [loadable_step(p) for p in left if ".ckpt-" in p.name]
    start = max([s for s in candidates + complete if s is not None], default=0)
    resume = dcgan(*train_args(out, cache), "--resume", str(run)) if run else None
    resume = resume or dcgan(*train_args(out, cache))
    _, err = resume.communicate()
    final = run_dir(out)
    ok = resume.returncode == 0 and final is not None
    state = load_checkpoint(final) if ok else None
    return {
        "killed_at_step": target,
        "extra_s": round(extra, 3),
        "steps_done": done,
        "resumed_from": start,
        "steps_lost": done - start,
        "temp_files_after_kill": len(left),
        "temp_mb_after_kill": round(sum(p.stat().st_size for p in left) / 2**20, 1),
        "complete_temp_promoted": bool(complete and start in complete and start > 0),
        "corrupt_checkpoints": corrupt,
        "resume_ok": ok,
        "resume_error": "" if ok else err.strip().splitlines()[-1:],
        "bit_identical": bool(state is not None and same_state(ref, state)),
        "log_steps_once": ok and logged_steps(final) == list(range(1, STEPS + 1)),
        "temp_files_after_resume": len(temps(out)),
    }


# --- double signals -----------------------------------------------------------------------


def signal_trial(out: Path, cache: Path, first: int, second: int) -> dict:
    """Stop a run with `first`, then send `second` as soon as the final save has begun."""
    args = ["train", "--data", "digits", "--size", "64", "--batch-size", "16", *QUIET]
    proc = dcgan(*args, "--steps", "100000", "--checkpoint-every", "100000", "--out", str(out),
                 "--cache", str(cache))  # fmt: skip
    while len(logged_steps(run_dir(out))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    run = run_dir(out)
    proc.send_signal(first)
    landed = False
    while proc.poll() is None:
        if any(p.name.startswith(".ckpt-") for p in run.iterdir()):
            proc.send_signal(second)
            landed = True
            break
        time.sleep(0.001)
    stdout, err = proc.communicate()
    step = int(stdout.split("at step ")[1].split(";")[0]) if "at step " in stdout else None
    return {
        "signals": f"{signal.Signals(first).name}+{signal.Signals(second).name}",
        "second_during_save": landed and "finishing writing a checkpoint" in err,
        "exit_code": proc.returncode,
        "expected_exit": 128 + first,
        "saved": step is not None and loadable_step(run) == step,
        "traceback": "Traceback" in err,
        "temp_files": len(temps(run)),
    }


# --- a full disk --------------------------------------------------------------------------


def disk_full(root: Path, cache: Path) -> dict:
    """Checkpoint writes into a small tmpfs filled to 0, 1/2 and 9/10 of a checkpoint free."""
    if os.geteuid() != 0:
        return {"skipped": "not root: mounting a small tmpfs needs root"}
    mnt = root / "tmpfs"
    mnt.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                           capture_output=True, text=True)  # fmt: skip
    if mount.returncode:
        return {"skipped": f"mount failed: {mount.stderr.strip()}"}
    trials = []
    try:
        for share in (0.0, 0.5, 0.9):
            out = mnt / f"runs{share}"
            first = dcgan(*train_args(out, cache, steps=4, every=4))
            _, err = first.communicate()
            run = run_dir(out)
            if first.returncode or run is None:
                raise SystemExit(f"disk full: the first run failed: {err}")
            before = (run / "latest.pt").read_bytes()
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            filler = free - int(share * len(before))
            with open(mnt / f"filler{share}", "wb") as f, contextlib.suppress(OSError):
                f.write(b"\0" * max(filler, 0))
            proc = dcgan(*train_args(out, cache, steps=8, every=4), "--resume", str(run))
            _, err = proc.communicate()
            lines = err.strip().splitlines()
            trials.append({
                "free_share_of_a_checkpoint": share,
                "exit_code": proc.returncode,
                "one_line": len(lines) == 1 and lines[0].startswith("dcgan: error:"),
                "message": lines[-1] if lines else "",
                "previous_kept": (run / "latest.pt").read_bytes() == before,
                "temp_files": len(temps(out)),
            })  # fmt: skip
            (mnt / f"filler{share}").unlink()
            shutil.rmtree(out)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    return {"trials": trials}
