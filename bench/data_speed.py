"""Data speed: `prepare` on the CelebA tar (img/s per core, and images per CPU-second: the
per-core rate that other jobs on a shared machine cannot lower; peak RSS), the memmap loader's
throughput against what a training step consumes, the fraction of step time spent waiting
for data during real training, and the peak RSS of training at 64 px batch 128.

Each RSS is measured in a fresh process (`ru_maxrss`), so it includes importing torch.

    python bench/data_speed.py [--steps 6] [--width 64]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import ROOT, cpu_model, parse_args, print_table, write_results
from perf_common import CELEBA, celeba

from dcgan.config import ModelConfig
from dcgan.data.loader import BatchOrder, batches
from dcgan.data.packed import to_unit_range
from dcgan.models import Discriminator, Generator
from dcgan.options import opt
from dcgan.step import train_step

PREPARE = """
import json, resource, sys, time
from dcgan.data.prepare import prepare
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
cpu0 = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
t = time.perf_counter()
prepare(sys.argv[1], sys.argv[2], size=64, channels=3, workers=int(sys.argv[3]), progress=False)
wall = time.perf_counter() - t
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime - cpu0
print(json.dumps({"wall": wall, "cpu": cpu, "rss_mb": me.ru_maxrss / 1024,
                  "worker_rss_mb": kids.ru_maxrss / 1024}))
"""

TRAIN_RSS = """
import json, resource, sys
from dcgan import ModelConfig, TrainConfig, train
out = sys.argv[1]
cfg = TrainConfig(data=sys.argv[2], out=out, steps=int(sys.argv[3]), batch_size=128,
                  model=ModelConfig(size=64, channels=3), progress=False, cache=sys.argv[4])
train(cfg)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_py(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_prepare(tmp: Path) -> list[dict]:
    rows = []
    count = None
    for workers in (1, 2):
        r = run_py(PREPARE, str(CELEBA), str(tmp / f"prep{workers}"), str(workers))
        count = count or json.loads((tmp / f"prep{workers}" / "meta.json").read_text())["count"]
        rate = count / r["wall"]
        rows.append(
            {
                "workers": workers,
                "images": count,
                "wall_s": round(r["wall"], 2),
                "img_s": round(rate, 1),
                "img_s_per_core": round(rate / workers, 1),
                "img_per_cpu_s": round(count / r["cpu"], 1),
                "peak_rss_mb": round(r["rss_mb"], 1),
                "worker_peak_rss_mb": round(r["worker_rss_mb"], 1),
            }
        )
    return rows


def bench_loader(steps: int, width: int, batch: int = 128) -> dict:
    """Loader alone (uint8 batches + conversion to floats), then real training steps with
    the time spent waiting for the next batch measured around `next()`."""
    data = celeba(64)
    order = BatchOrder(len(data), batch, seed=0)
    n_read = 40
    t = time.perf_counter()
    for raw in batches(data, order, 0, n_read):
        to_unit_range(raw)
    loader_rate = n_read * batch / (time.perf_counter() - t)

    cfg = ModelConfig(size=64, channels=3, ngf=width, ndf=width)
    torch.manual_seed(0)
    g = Generator(cfg).to(memory_format=torch.channels_last)
    d = Discriminator(cfg).to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    it = batches(data, order, 0, steps + 1)
    wait = step_time = 0.0
    for i in range(steps + 1):
        t0 = time.perf_counter()
        real = to_unit_range(next(it)).contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        z = torch.rand(batch, cfg.nz) * 2 - 1
        train_step(g, d, opt_g, opt_d, real, z, torch.autocast("cpu", enabled=False))
        t2 = time.perf_counter()
        if i:  # the first step warms up (and its batch was read before anything ran)
            wait += t1 - t0
            step_time += t2 - t0
    train_rate = steps * batch / step_time
    return {
        "loader_img_s": round(loader_rate, 1),
        "train_img_s": round(train_rate, 1),
        "loader_headroom": round(loader_rate / train_rate, 1),
        "stall_fraction": round(wait / step_time, 5),
        "steps": steps,
        "width": width,
    }


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    steps: int = opt(6, "training steps timed for the stall")
    width: int = opt(64, "ngf = ndf of the stall run")
    rss_steps: int = opt(2, "steps of the RSS training run")


def main() -> None:
    args = parse_args(Args, __doc__)
    with tempfile.TemporaryDirectory() as tmp:
        prep = bench_prepare(Path(tmp))
        loader = bench_loader(args.steps, args.width)
        packed = str(celeba(64).path)
        rss = run_py(TRAIN_RSS, str(Path(tmp) / "runs"), packed, str(args.rss_steps), tmp)
    print(f"CPU: {cpu_model()}")
    print_table(
        ["prepare workers", "img/s", "img/s per core", "img per CPU-s", "RSS MB", "worker RSS MB"],
        [
            [p["workers"], p["img_s"], p["img_s_per_core"], p["img_per_cpu_s"]]
            + [p["peak_rss_mb"], p["worker_peak_rss_mb"]]
            for p in prep
        ],
    )
    print_table(
        ["loader img/s", "training img/s", "headroom", "stall %", "train peak RSS MB"],
        [
            [loader["loader_img_s"], loader["train_img_s"], f"{loader['loader_headroom']}x"]
            + [f"{100 * loader['stall_fraction']:.2f}%", round(rss["rss_mb"], 1)]
        ],
    )
    out = write_results(
        "data_speed",
        {
            "cpu": cpu_model(),
            "note": "a CPU shared with other jobs; RSS includes importing torch",
            "prepare_celeba_64px": prep,
            "loader": loader,
            "train_64px_batch128_figure1_peak_rss_mb": round(rss["rss_mb"], 1),
        },
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
