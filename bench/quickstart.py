"""The README's quickstart, timed: its three commands exactly as the README writes them, on
the 5,999 aligned CelebA faces of the shared tar (standing in for `~/photos`).

Writes bench/results/quickstart.json (steps, epochs, wall time, img/s) and the grid the
README shows, docs/quickstart.png.

    python bench/quickstart.py
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, SHARED, print_table, write_results


def quickstart_commands() -> list[list[str]]:
    """The bash block under the README's quickstart heading, one command a line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quickstart on your own images")[1].split("```bash")[1]
    return [shlex.split(ln, comments=True) for ln in block.split("```")[0].strip().splitlines()]


def run(command: list[str], cwd: Path) -> float:
    """Run `dcgan ...` with this interpreter; its wall time in seconds."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "dcgan", *command[1:]], cwd=cwd, check=True)
    return time.monotonic() - t0


def main() -> None:
    from dcgan.plots import read_stats

    photos = SHARED / "celeba_aligned_00.tar"
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        work = Path(tmp)
        prepare, train, sample = quickstart_commands()
        prepare = [str(photos) if arg == "~/photos" else arg for arg in prepare]
        walls = [run(prepare, work), run(train, work), run(sample, work)]
        (run_dir,) = (work / "runs").iterdir()
        last = read_stats(run_dir)[-1]
        batch = json.loads((run_dir / "config.json").read_text())["batch_size"]
        shutil.copyfile(work / "grid.png", ROOT / "docs" / "quickstart.png")
    result = {
        "commands": [shlex.join(c) for c in quickstart_commands()],
        "data": "celeba_aligned_00.tar (5,999 aligned CelebA faces)",
        "steps": last["step"],
        "epochs": last["epoch"],
        "training_minutes": round(last["time"] / 60, 2),
        "img_s": round(last["step"] * batch / last["time"], 1),
        "wall_seconds": {"prepare": walls[0], "train": walls[1], "sample": walls[2]},
        # A time-limited run trains as far as the CPU lets it: other load shows here.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "grid": "docs/quickstart.png",
    }
    write_results("quickstart", result)
    row = [result["steps"], f"{result['epochs']:.2f}", result["training_minutes"], result["img_s"]]
    print_table(["steps", "epochs", "minutes", "img/s"], [row])


if __name__ == "__main__":
    main()
