"""The README's quickstart, timed: its three commands exactly as the README writes them, on
the 5,999 aligned CelebA faces of the shared tar (standing in for `~/photos`).

Writes bench/results/quickstart.json (steps, epochs, wall time, img/s) and the grid the
README shows, docs/quickstart.png.

    python bench/quickstart.py
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DCGAN_SHARED_DATA") or ROOT.parent / "shared" / "data")


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
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # A time-limited run trains as far as the CPU lets it: other load shows here.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "grid": "docs/quickstart.png",
    }
    out = ROOT / "bench" / "results" / "quickstart.json"
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(f"{'steps':>8} {'epochs':>7} {'minutes':>8} {'img/s':>6}")
    print(
        f"{result['steps']:>8} {result['epochs']:>7.2f} "
        f"{result['training_minutes']:>8.2f} {result['img_s']:>6}"
    )


if __name__ == "__main__":
    main()
