"""The watchdog's cost against the training step (`python bench/watchdog.py --phase
overhead`): the probe, run every EVERY steps, and the per-step extras (the two gradient
norms), timed interleaved on the model a user trains."""

from __future__ import annotations

import contextlib
import statistics
import time

import torch
from harness import machine, print_table
from watchdog_corpus import EVERY

from dcgan import ModelConfig


def time_parts(size: int, width: int, reps: int) -> dict[str, list[float]]:
    """Seconds of a training step, a probe and the step's two gradient norms, `reps` of
    each, timed interleaved on the model a user trains (fp32, channels-last, batch 128)."""
    from dcgan import Discriminator, Generator
    from dcgan.health import probe
    from dcgan.step import grad_norm, train_step

    model = ModelConfig(size=size, channels=3, ngf=width, ndf=width)
    g, d = Generator(model), Discriminator(model)
    for m in (g, d):
        m.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real = (torch.rand(128, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    z, probe_z = torch.rand(128, 100) * 2 - 1, torch.rand(64, 100) * 2 - 1
    parts = {
        "step": lambda: train_step(g, d, opt_g, opt_d, real, z, contextlib.nullcontext()),
        "probe": lambda: probe(g, d, probe_z, real[:64]),
        "norms": lambda: (grad_norm(g), grad_norm(d)),
    }
    parts["step"]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(reps):
        for name, fn in parts.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def quartiles(v: list[float]) -> list[float]:
    """The lower quartile, the median and the upper quartile."""
    return statistics.quantiles(v, n=4, method="inclusive")


def phase_overhead() -> dict:
    """The watchdog's cost against the training step: one probe every --health-every steps,
    and the per-step extras (the two gradient norms)."""
    out = []
    torch.set_num_threads(1)
    for size, width, reps in ((32, 64, 40), (64, 128, 10)):
        times = time_parts(size, width, reps)
        q = {name: quartiles(v) for name, v in times.items()}
        step, probe, norms = q["step"][1], q["probe"][1], q["norms"][1]
        out.append(
            {
                "size": size,
                "width": width,
                "batch": 128,
                "reps": reps,
                "threads": torch.get_num_threads(),
                "step_s": step,
                "probe_s": probe,
                "grad_norms_s": norms,
                "quartiles_s": q,  # lower quartile, median, upper quartile of each part
                "probe_share_at_every_100": probe / (EVERY * step),
                "grad_norm_share": norms / step,
            }
        )
    print(f"\nwatchdog overhead (medians [quartiles]; probe every {EVERY} steps)")
    rows = [
        [r["size"], r["width"], span(r["quartiles_s"]["step"]), span(r["quartiles_s"]["probe"]),
         f"{100 * r['probe_share_at_every_100']:.2f}%", f"{100 * r['grad_norm_share']:.2f}%"]
        for r in out
    ]  # fmt: skip
    print_table(["size", "width", "step s", "probe s", "probe share", "grad norms share"], rows)
    return {"overhead": out, "overhead_machine": machine()}


def span(q: list[float]) -> str:
    return f"{q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}]"
