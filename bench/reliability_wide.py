"""The full-width cases of bench/reliability.py's probe: Figure 1's 64 px model (a 284 MB
checkpoint) killed while its checkpoint is written, and Ctrl-C at that width; with the
runner every probe case uses (`measured`: exit code, one-line stderr, hang guard, peak RSS)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from reliability_crash import ENV, dcgan, loadable_step, logged_steps, run_dir, same_state, temps

from dcgan.checkpoint import load_checkpoint

# A 64 px run of the default width (ngf = ndf = 128: a 284 MB checkpoint), small batches.
WIDE = ["--data", "digits", "--size", "64", "--batch-size", "8", "--log-every", "1"]
WIDE_STEPS = 3
GUARD_S = 120  # a case that blocks (on a FIFO, say) is killed after this and counted as a hang


def wide_args(out: Path, cache: Path, steps: int = WIDE_STEPS, every: int = 1) -> list[str]:
    return ["train", *WIDE, "--no-progress", "--steps", str(steps), "--checkpoint-every",
            str(every), "--out", str(out), "--cache", str(cache)]  # fmt: skip


def measured(args: list[str], timeout: float = GUARD_S) -> dict:
    """`dcgan ARGS` in a fresh process: exit code, stderr lines, seconds, its own peak RSS.
    The RSS comes from /usr/bin/time, a small parent: a child forked from this process would
    report this process's memory as its own peak (Linux keeps the high-water mark)."""
    with tempfile.TemporaryDirectory() as tmp:
        rss, err = Path(tmp) / "rss", Path(tmp) / "err"
        t0 = time.monotonic()
        with err.open("w") as f:
            proc = subprocess.Popen(
                ["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m", "dcgan", *args],
                env=ENV, stdout=subprocess.DEVNULL, stderr=f, start_new_session=True,
            )  # fmt: skip
            try:
                proc.wait(timeout)
                hung = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                hung = True
        lines = err.read_text().strip().splitlines()
        peak = rss.read_text().split()[-1] if rss.is_file() and rss.read_text().split() else ""
    return {
        "exit_code": proc.returncode,
        "hung": hung,
        "seconds": round(time.monotonic() - t0, 2),
        "peak_rss_mb": round(int(peak) / 1024) if peak.isdigit() else None,
        "stderr_lines": len(lines),
        "said_skipped": any("skipped 1 image" in line for line in lines),
        "message": (lines or [""])[-1][:200],
        "stderr": [line[:240] for line in lines[:4]],
    }


# --- a full-width checkpoint killed mid-write ------------------------------------------------


def wide_reference(root: Path, cache: Path) -> Path:
    """An uninterrupted full-width run, a checkpoint every step; its run directory."""
    proc = dcgan(*wide_args(root / "wide-ref", cache))
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(err)
    return run_dir(root / "wide-ref")


def wide_kill_trial(out: Path, cache: Path, step: int, share: float, ref: Path) -> dict:
    """kill -9 once the temp file of the checkpoint at `step` holds `share` of its bytes, then
    `dcgan train --resume RUN`, the command alone."""
    size = (ref / "latest.pt").stat().st_size
    proc = dcgan(*wide_args(out, cache))
    written = None
    while proc.poll() is None and written is None:
        run = run_dir(out)
        for tmp in run.glob(f".ckpt-{step:08d}.pt.*.tmp") if run else []:
            with contextlib.suppress(FileNotFoundError):  # renamed meanwhile
                if tmp.stat().st_size >= share * size:
                    proc.kill()
                    written = tmp.stat().st_size
        time.sleep(0.0005)
    proc.communicate()
    run = run_dir(out)
    left = temps(out)
    complete = [p for p in sorted(run.glob("ckpt-*.pt")) if loadable_step(p) is not None]
    start = loadable_step(complete[-1]) if complete else 0
    resume = measured(["train", "--resume", str(run)], timeout=600)
    final = load_checkpoint(run) if resume["exit_code"] == 0 else None
    start_state = (
        same_state(load_checkpoint(ref / f"ckpt-{start:08d}.pt"), load_checkpoint(complete[-1]))
        if complete
        else None
    )
    return {
        "killed_during_checkpoint_of_step": step,
        "temp_bytes_at_kill": written,
        "temp_share_at_kill": round(written / size, 3) if written else None,
        "temp_files_after_kill": len(left),
        "last_complete_checkpoint": start,
        "last_complete_matches_uninterrupted": start_state,
        "resume_exit_code": resume["exit_code"],
        "resume_message": resume["message"] if resume["exit_code"] else "",
        "temp_files_after_resume": len(temps(out)),
        "final_step": final["step"] if final else None,
        "bit_identical": bool(final and same_state(load_checkpoint(ref), final)),
    }


# --- Ctrl-C at full width --------------------------------------------------------------------


def ctrl_c_trial(out: Path, cache: Path, delay: float) -> dict:
    """SIGINT `delay` s after the first logged step: seconds to the 'interrupted' line and
    to the exit, and the size of the checkpoint written on the way out."""
    args = wide_args(out, cache, steps=100000, every=100000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcgan", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), ln) for ln in proc.stderr)
    )
    reader.start()
    while proc.poll() is None and len(logged_steps(run_dir(out))) < 2:
        time.sleep(0.01)
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait()
    gone = time.monotonic()
    reader.join()
    said = [t for t, ln in lines if "interrupted: finishing this step" in ln]
    run = run_dir(out)
    times = [json.loads(ln)["time"] for ln in (run / "stats.jsonl").read_text().splitlines()]
    return {
        "delay_s": round(delay, 2),
        "exit_code": proc.returncode,
        "to_message_s": round(said[0] - sent, 3) if said else None,
        "to_exit_s": round(gone - sent, 2),
        "step_s": round(float(np.median(np.diff(times))), 2),
        "checkpoint_mb": round((run / "latest.pt").stat().st_size / 1e6, 1),
        "saved_step": loadable_step(run / "latest.pt"),
    }


# --- FIFOs and devices -------------------------------------------------------------------------
