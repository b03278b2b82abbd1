"""How fast the command line answers: `dcgan --help` and `dcgan train --help`, each a fresh
interpreter (as a user runs them), against the interpreter's own start and `import torch`.

Commands run interleaved, one of each per round, so a slow moment hits them all alike; the
table gives the median, min and max wall time over the rounds, and whether the command
imported torch. `python -m dcgan` runs what the `dcgan` script runs, from this checkout.
Writes bench/results/cli_speed.json.

    PYTHONPATH=src python bench/cli_speed.py [--rounds 9]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from harness import ROOT, cpu_model, parse_args, print_table, write_results

from dcgan.options import opt

TARGET_S = 1.0  # the bar for --help
DCGAN = [sys.executable, "-m", "dcgan"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "python -c 'import dcgan'": [sys.executable, "-c", "import dcgan"],
    "dcgan --help": [*DCGAN, "--help"],
    "dcgan train --help": [*DCGAN, "train", "--help"],
}
# Runs the CLI's main() on argv and reports whether torch got imported on the way.
PROBE = """
import sys
from dcgan.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("torch" in sys.modules, file=sys.stderr)
"""
IMPORT_PROBE = 'import sys, dcgan\nprint("torch" in sys.modules, file=sys.stderr)\n'


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def imports_torch(code: str, *argv: str) -> bool:
    """Whether `code` (run with `argv`) leaves torch imported; it prints that last on stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env(), capture_output=True, text=True, check=True
    )
    return done.stderr.strip().splitlines()[-1] == "True"


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    rounds: int = opt(9, "runs of each command")


def main() -> None:
    args = parse_args(Args, __doc__)
    for cmd in COMMANDS.values():  # warm the file cache: the first start reads from disk
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd))
    torch_loaded = {
        "python -c 'import torch'": True,
        "python -c 'import dcgan'": imports_torch(IMPORT_PROBE),
        "dcgan --help": imports_torch(PROBE, "--help"),
        "dcgan train --help": imports_torch(PROBE, "train", "--help"),
    }
    rows, result = [], {}
    for name, ts in times.items():
        median = statistics.median(ts)
        verdict = f"{'yes' if median < TARGET_S else 'NO'}" if name.startswith("dcgan") else ""
        loaded = torch_loaded.get(name, False)
        result[name] = {
            "median_s": round(median, 3),
            "min_s": round(min(ts), 3),
            "max_s": round(max(ts), 3),
            "runs_s": [round(t, 3) for t in ts],
            "imports_torch": loaded,
        }
        shown = "yes" if loaded else "no"
        rows.append([name, f"{median:.3f}", f"{min(ts):.3f}", f"{max(ts):.3f}", shown, verdict])
    print(f"{cpu_model()}; Python {sys.version.split()[0]}; {args.rounds} rounds\n")
    header = ["command", "median s", "min s", "max s", "imports torch", f"< {TARGET_S:g} s"]
    print_table(header, rows)
    path = write_results(
        "cli_speed",
        {
            "cpu": cpu_model(),
            "python": sys.version.split()[0],
            "command": "PYTHONPATH=src python bench/cli_speed.py" + f" --rounds {args.rounds}",
            "target_s": TARGET_S,
            "rounds": args.rounds,
            "commands": result,
        },
    )
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
