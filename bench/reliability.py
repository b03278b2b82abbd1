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

    python bench/reliability.py [--kills 20] [--signals 6] [--seed 0] [--probe-trials 4]
    python bench/reliability.py --probe-only    # the probe's cases (issue 24) alone

The probe's cases (bench/reliability_probe.py, under "probe" in the JSON) add a full-width
64 px run (a 284 MB checkpoint) killed mid-write and interrupted by Ctrl-C, FIFOs and
devices, archive bombs, non-UTF-8 names through dedup and misuse of the Python API.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import cpu_model, machine, parse_args, print_table, results_path, write_results
from reliability_corpus import (
    build_checkpoint_corpus,
    build_malicious_data,
    malicious_checkpoint,
)
from reliability_crash import (
    EVERY,
    MODEL,
    STEPS,
    dcgan,
    disk_full,
    kill_trial,
    reference,
    run_dir,
    signal_trial,
)
from reliability_probe import probe, report_rows

from dcgan.cli import main as dcgan_main
from dcgan.options import opt

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
             ["export", str(path), "--out-format", "safetensors", "--out", str(root / "g.st")],
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
        "export": lambda p: ["export", str(p), "--out-format", "safetensors", "--out",
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


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    kills: int = opt(20)
    signals: int = opt(6)
    seed: int = opt(0)
    probe_trials: int = opt(4, "kills mid-write and Ctrl-Cs of a full-width run")
    probe_only: bool = opt(False, "run only the probe's cases; keep the others' saved results")


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.probe_only:
        return probe_only(args)
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
        new = probe(root, cache, run_dir(root / "reference"), rng, args.probe_trials)
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
        "probe": new,
    }
    write_results("reliability", result)
    report(result)


def probe_only(args: Args) -> None:
    """The probe's cases alone, merged into the saved results of the others."""
    t0 = time.monotonic()
    saved = json.loads((results_path("reliability")).read_text())
    with tempfile.TemporaryDirectory(prefix="dcgan-reliability-") as tmp:
        root, cache = Path(tmp), Path(tmp) / "cache"
        reference(root, cache)
        new = probe(root, cache, run_dir(root / "reference"), random.Random(args.seed),
                    args.probe_trials)  # fmt: skip
    new["hardware"] = cpu_model()
    new["machine"] = machine()
    new["command"] = "python bench/reliability.py " + " ".join(sys.argv[1:])
    new["seconds"] = round(time.monotonic() - t0)
    # the other cases' figures were measured elsewhere: their machine is their "hardware"
    result = {"machine": {"cpu": saved["hardware"]}, **saved, "probe": new}
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
    if "probe" in r:
        rows += report_rows(r["probe"])
    print_table(["check", "result"], rows)
    print(f"{r['hardware']}; {r['seconds']} s; {r['command']}")


if __name__ == "__main__":
    main()
