"""Reliability: what survives a kill -9, a double Ctrl-C/SIGTERM and a full disk, and what a
crafted or malformed file can do (run code? give a traceback?).

- kill -9 at random points of a training run, then resume: resumes that end bit-identical
  to an uninterrupted run, corrupt checkpoints, temp files left, steps lost against the
  checkpoint interval;
- a second signal while the final checkpoint is written: saves kept, exit codes;
- a full disk (a small tmpfs, when run as root) under a checkpoint write;
- a crafted file for every data reader and for checkpoints, through `prepare`, `train`,
  `sample`: code executions (a marker file) and tracebacks;
- a corpus of malformed checkpoints through sample/export/train --resume: tracebacks.

Tiny models on scikit-learn's digits; a few minutes on a 2-core CPU:

    python bench/reliability.py [--kills 20] [--signals 6] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from perf_common import ROOT, cpu_model, print_table, write_results
from reliability_corpus import (
    build_checkpoint_corpus,
    build_malicious_data,
    malicious_checkpoint,
)

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main as dcgan_main
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


# --- crafted and malformed files ----------------------------------------------------------


def malicious(root: Path, cache: Path) -> list[dict]:
    """Each crafted file through the verbs that read it, in a fresh process."""
    rows = []
    marker = root / "code-ran"
    ckpt = malicious_checkpoint(root / "evil.pt", marker)
    cases = [(name, path) for name, path in build_malicious_data(root / "data", marker).items()]
    for name, path in [*cases, ("checkpoint", ckpt)]:
        verbs = (
            [["sample", str(path), "--out", str(root / "s.png")],
             ["export", str(path), "--format", "safetensors", "--out", str(root / "g.st")],
             ["train", "--resume", str(path), "--steps", "1", "--no-progress"]]
            if name == "checkpoint"
            else [["prepare", str(path), str(root / "packed" / name), "--size", "8"],
                  ["train", "--data", str(path), "--size", "16", "--ngf", "8", "--ndf", "8",
                   "--batch-size", "2", "--steps", "1", "--no-progress", "--out",
                   str(root / "mruns"), "--cache", str(cache / "m")]]
        )  # fmt: skip
        for argv in verbs:
            proc = dcgan(*argv)
            _, err = proc.communicate()
            rows.append({
                "file": name,
                "verb": argv[0],
                "exit_code": proc.returncode,
                "code_ran": marker.exists(),
                "traceback": "Traceback" in err,
                "message": (err.strip().splitlines() or [""])[-1][:160],
            })  # fmt: skip
            marker.unlink(missing_ok=True)
    return rows


def malformed(root: Path, good: Path) -> dict:
    """Every malformed checkpoint through sample, export and train --resume (in process)."""
    files = build_checkpoint_corpus(root / "corpus", good)
    verbs = {
        "sample": lambda p: ["sample", str(p), "--n", "2", "--out", str(root / "m.png")],
        "export": lambda p: ["export", str(p), "--format", "safetensors", "--out",
                             str(root / "m.safetensors")],
        "train": lambda p: ["train", "--resume", str(p), "--steps", "1", "--no-progress",
                            "--out", str(root / "fruns")],
    }  # fmt: skip
    counts = {"files": len(files), "runs": 0, "exit_0": 0, "exit_2_one_line": 0, "other": 0}
    tracebacks, others = [], []
    for path in files:
        for verb, argv in verbs.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = dcgan_main(argv(path))
                except BaseException as e:  # what would have been a traceback
                    code = None
                    tracebacks.append(f"{verb} {path.name}: {type(e).__name__}: {e}"[:200])
            counts["runs"] += 1
            lines = err.getvalue().strip().splitlines()
            if code == 0:
                counts["exit_0"] += 1
            elif code == 2 and len(lines) == 1 and "weights_only" not in lines[0]:
                counts["exit_2_one_line"] += 1
            else:
                counts["other"] += 1
                others.append(f"{verb} {path.name}: exit {code}: {' | '.join(lines)}"[:300])
    return {
        **counts,
        "other_examples": others[:5],
        "tracebacks": len(tracebacks),
        "traceback_examples": tracebacks[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--signals", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dcgan-reliability-") as tmp:
        root, cache = Path(tmp), Path(tmp) / "cache"
        ref = reference(root, cache)
        kills = []
        for i in range(args.kills):
            target, extra = rng.randrange(STEPS), rng.uniform(0, 0.4)
            kills.append(kill_trial(root / f"kill{i:02d}", cache, target, extra, ref))
            print(f"kill {i + 1}/{args.kills}: {kills[-1]}", flush=True)
        pairs = [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM),
                 (signal.SIGINT, signal.SIGTERM)]  # fmt: skip
        signals = [
            signal_trial(root / f"sig{i}", cache, *pairs[i % len(pairs)])
            for i in range(args.signals)
        ]
        disk = disk_full(root, cache)
        crafted = malicious(root, cache)
        bad = malformed(root, run_dir(root / "reference") / "latest.pt")
    result = {
        "hardware": cpu_model(),
        "command": "python bench/reliability.py " + " ".join(sys.argv[1:]),
        "seconds": round(time.monotonic() - t0),
        "model": " ".join(MODEL) + f" --steps {STEPS} --checkpoint-every {EVERY}",
        "kill9": {
            "trials": len(kills),
            "resumed": sum(k["resume_ok"] for k in kills),
            "bit_identical": sum(k["bit_identical"] for k in kills),
            "corrupt_checkpoints": sum(k["corrupt_checkpoints"] for k in kills),
            "kills_leaving_temp_files": sum(k["temp_files_after_kill"] > 0 for k in kills),
            "temp_files_after_resume": sum(k["temp_files_after_resume"] for k in kills),
            "complete_temps_promoted": sum(k["complete_temp_promoted"] for k in kills),
            "max_steps_lost": max((k["steps_lost"] for k in kills), default=0),
            "interval": EVERY,
            "logs_without_duplicates": sum(k["log_steps_once"] for k in kills),
            "runs": kills,
        },
        "double_signal": {
            "trials": len(signals),
            "second_during_save": sum(s["second_during_save"] for s in signals),
            "saved": sum(s["saved"] for s in signals),
            "right_exit_code": sum(s["exit_code"] == s["expected_exit"] for s in signals),
            "tracebacks": sum(s["traceback"] for s in signals),
            "temp_files": sum(s["temp_files"] for s in signals),
            "runs": signals,
        },
        "disk_full": disk,
        "malicious": {
            "runs": len(crafted),
            "code_executions": sum(r["code_ran"] for r in crafted),
            "tracebacks": sum(r["traceback"] for r in crafted),
            "rows": crafted,
        },
        "malformed_checkpoints": bad,
    }
    write_results("reliability", result)
    report(result)


def report(r: dict) -> None:
    k, s, m, b = r["kill9"], r["double_signal"], r["malicious"], r["malformed_checkpoints"]
    rows = [
        ["kill -9: resumes bit-identical", f"{k['bit_identical']}/{k['trials']}"],
        ["kill -9: corrupt checkpoints", k["corrupt_checkpoints"]],
        ["kill -9: kills that left temp files", f"{k['kills_leaving_temp_files']}/{k['trials']}"],
        ["kill -9: temp files left after resume", k["temp_files_after_resume"]],
        ["kill -9: complete temp checkpoints promoted", k["complete_temps_promoted"]],
        ["kill -9: most steps lost (interval)", f"{k['max_steps_lost']} ({k['interval']})"],
        ["double signal: second one during the save", f"{s['second_during_save']}/{s['trials']}"],
        ["double signal: saves kept", f"{s['saved']}/{s['trials']}"],
        ["double signal: exit 130/143 as due", f"{s['right_exit_code']}/{s['trials']}"],
        ["double signal: tracebacks, temp files", f"{s['tracebacks']}, {s['temp_files']}"],
    ]
    disk = r["disk_full"]
    if "skipped" in disk:
        rows.append(["disk full", f"skipped: {disk['skipped']}"])
    else:
        t = disk["trials"]
        rows.append(["disk full: one line, exit 2", f"{sum(x['one_line'] for x in t)}/{len(t)}"])
        rows.append(["disk full: previous checkpoint kept",
                     f"{sum(x['previous_kept'] for x in t)}/{len(t)}"])  # fmt: skip
        rows.append(["disk full: temp files left", sum(x["temp_files"] for x in t)])
    rows += [
        ["crafted files: code executions", f"{m['code_executions']} in {m['runs']} runs"],
        ["crafted files: tracebacks", m["tracebacks"]],
        ["malformed checkpoints: tracebacks", f"{b['tracebacks']} in {b['runs']} runs"],
        ["malformed checkpoints: one line, exit 2", f"{b['exit_2_one_line']}/{b['runs']}"],
    ]
    print_table(["check", "result"], rows)
    print(f"{r['hardware']}; {r['seconds']} s; {r['command']}")


if __name__ == "__main__":
    main()
