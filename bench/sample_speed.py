"""Sampling speed: the generator alone (eval mode, reference-batch BatchNorm, no grad),
eager vs torch.compile vs the best setting, interleaved in one process on the same z.

    python bench/sample_speed.py [--size 64] [--width 64] [--batch 256] [--rounds 5]
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from harness import cpu_model, parse_args, print_table, write_results

from dcgan.config import ModelConfig
from dcgan.models import Generator
from dcgan.options import opt
from dcgan.sampling import with_bn_mode

TARGET = 1.5


def variants(g: torch.nn.Module) -> dict:
    """name -> (callable, channels_last?) over copies of the eval-mode generator."""
    import copy

    cl = copy.deepcopy(g).to(memory_format=torch.channels_last)
    return {
        "eager": g,
        "eager channels_last": cl,
        "compile": torch.compile(copy.deepcopy(g)),
        "compile channels_last": torch.compile(copy.deepcopy(cl)),
    }


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    size: int = opt(64)
    width: int = opt(64, "ngf")
    batch: int = opt(256, "images per call (generate's 256)")
    rounds: int = opt(5)
    calls: int = opt(2, "calls per variant per round")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.manual_seed(0)
    g = with_bn_mode(Generator(ModelConfig(size=args.size, channels=3, ngf=args.width)), "batch")
    z = torch.rand(args.batch, g.config.nz) * 2 - 1
    runs = variants(g)
    with torch.inference_mode():
        expected = g(z)
        warm, diff = {}, {}
        for name, f in runs.items():  # warm-up: compiles here
            t = time.perf_counter()
            diff[name] = (f(z) - expected).abs().max().item()
            warm[name] = round(time.perf_counter() - t, 1)
        rates: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for name, f in runs.items():
                t = time.perf_counter()
                for _ in range(args.calls):
                    f(z)
                rates[name].append(args.calls * args.batch / (time.perf_counter() - t))
    med = {k: statistics.median(r) for k, r in rates.items()}
    best = max(med, key=med.get)
    rows = [
        [k, round(v, 1), round(v / med["eager"], 2), f"{diff[k]:.1e}", warm[k]]
        for k, v in med.items()
    ]
    print(f"CPU: {cpu_model()}; G at {args.size} px, ngf {args.width}, batch {args.batch}")
    print_table(["variant", "img/s", "x eager", "max |diff|", "first call s"], rows)
    print(f"best: {best} ({med[best] / med['eager']:.2f}x eager; target {TARGET}x)")
    out = write_results(
        "sample_speed",
        {
            "cpu": cpu_model(),
            "note": "interleaved in one process on a CPU shared with other jobs",
            "args": vars(args),
            "img_s": {k: round(v, 1) for k, v in med.items()},
            "img_s_rounds": {k: [round(x, 1) for x in r] for k, r in rates.items()},
            "x_eager": {k: round(v / med["eager"], 3) for k, v in med.items()},
            "max_abs_diff": diff,
            "first_call_s": warm,
            "best": best,
        },
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
