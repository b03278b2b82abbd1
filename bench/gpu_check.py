"""The first-GPU acceptance run: every CUDA path of training checked for errors and for
numbers, dcgan's step timed against the pytorch/examples loop, and paper §5.1's Table 1 on a
paper-width CIFAR-10 D, in one command (about 8 minutes on one H100).

Checks, each a row of the table and of bench/results/gpu_check.json:
- bf16 autocast, torch.compile and channels-last training on CIFAR-10 32 px: finite
  weights and their speed;
- pinned-memory loading and the memmap data path: loader images/s against the step's;
- torchrun with nccl on the GPUs present (one GPU still runs the whole DDP path);
- exact resume on CUDA: 3 + 3 steps against 6 (largest weight difference);
- speed: dcgan's step against pytorch/examples' at 64 px batch 128, and at the largest
  batch that fits;
- Table 1: `bench/classify_cifar.py` on a width-128 D trained for `--table1-minutes`.

    python bench/gpu_check.py                          # on the GPU machine
    python bench/gpu_check.py --device cpu --quick     # seconds: the script itself (tests)
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import CACHE, ROOT, SHARED, parse_args, print_table, write_results
from perf_common import sync
from reference_loop import ref_discriminator, ref_generator, ref_step

from dcgan import ModelConfig, TrainConfig, train
from dcgan.checkpoint import load_checkpoint
from dcgan.data.loader import BatchOrder, batches
from dcgan.data.packed import resolve_data
from dcgan.errors import first_line
from dcgan.models import Discriminator, Generator
from dcgan.options import opt
from dcgan.step import train_step

CIFAR = SHARED / "cifar10_train20k.npz"


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    device: str = opt("cuda", "cuda, or cpu to check the script itself")
    quick: bool = opt(False, "tiny models, few steps, the embedded digits: seconds")
    table1_minutes: float = opt(3.0, "training minutes of Table 1's width-128 D (0: skip)")
    out: str = opt("gpu_check", "name of the JSON in bench/results")


@dataclass
class Plan:
    """Sizes of every check: the full run's, or --quick's."""

    data: str
    size: int
    width: int
    steps: int
    batch: int


def plan(args: Args) -> Plan:
    if args.quick:
        return Plan("digits", 16, 8, 4, 16)
    return Plan(str(CIFAR), 32, 64, 60, 128)


def run_train(p: Plan, work: Path, name: str, device: str, **fields) -> tuple[Path, float]:
    """A dcgan training run of `p`'s size; (run directory, wall seconds)."""
    config = TrainConfig(
        data=p.data,
        out=str(work / name),
        model=ModelConfig(size=p.size, channels=None, ngf=p.width, ndf=p.width),
        batch_size=p.batch,
        steps=p.steps,
        seed=0,
        device=device,
        cache=str(CACHE),
        checkpoint_every=max(p.steps // 2, 1),
        sample_every=10**6,
        progress=False,
        **fields,
    )
    t0 = time.monotonic()
    return train(config).run_dir, time.monotonic() - t0


def finite(run_dir: Path) -> bool:
    ckpt = load_checkpoint(run_dir)
    return all(torch.isfinite(v).all() for v in ckpt["G"].values() if v.is_floating_point())


def check_training(p: Plan, work: Path, device: str, quick: bool) -> dict:
    """bf16, compile and channels-last runs: finite, and their images/s (--quick skips the
    compile, a minute of a CPU)."""
    out = {}
    variants = {
        "fp32": {"precision": "fp32"},
        "bf16": {"precision": "bf16"},
        "bf16_compile": {"precision": "bf16", "compile": True},
        "fp32_nchw": {"precision": "fp32", "channels_last": False},
    }
    if quick:
        del variants["bf16_compile"]
    for name, fields in variants.items():
        run, wall = run_train(p, work, name, device, **fields)
        out[name] = {"finite": finite(run), "img_s": round(p.steps * p.batch / wall, 1)}
    out["ok"] = all(v["finite"] for v in out.values())
    return out


def check_loading(p: Plan, device: str) -> dict:
    """Pinned uint8 batches from the memmap, against the rate a step consumes them."""
    data = resolve_data(p.data, p.size, None, cache=str(CACHE), progress=False)
    order = BatchOrder(len(data), p.batch, seed=0)
    pin = device == "cuda"
    n, pinned, t0 = 0, True, time.monotonic()
    for batch in batches(data, order, 0, p.steps * 4, pin=pin):
        pinned &= batch.is_pinned() if pin else True
        batch.to(device, non_blocking=True)
        n += len(batch)
    sync(torch.device(device))
    return {"ok": pinned, "pinned": pin and pinned, "img_s": round(n / (time.monotonic() - t0))}


def check_torchrun(p: Plan, work: Path, device: str) -> dict:
    """`torchrun --nproc_per_node=N -m dcgan train`: nccl on GPUs, gloo on the CPU."""
    nproc = max(torch.cuda.device_count(), 1) if device == "cuda" else 1
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    cmd += ["-m", "dcgan", "train", "--data", p.data, "--size", str(p.size)]
    cmd += ["--ngf", str(p.width), "--ndf", str(p.width), "--steps", str(p.steps)]
    cmd += ["--batch-size", str(p.batch), "--device", device, "--no-progress"]
    cmd += ["--out", str(work / "ddp"), "--cache", str(CACHE)]
    got = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if got.returncode != 0:
        return {"ok": False, "error": (got.stderr.strip().splitlines() or ["?"])[-1]}
    (run,) = (work / "ddp").iterdir()
    return {"ok": finite(run), "processes": nproc, "step": load_checkpoint(run)["step"]}


def check_resume(p: Plan, work: Path, device: str) -> dict:
    """3 + 3 steps against 6 on the device: the largest weight difference (0 = bit-exact;
    CUDA's non-deterministic kernels may leave rounding-sized differences)."""
    six = Plan(p.data, p.size, p.width, 6, p.batch)
    full, _ = run_train(six, work, "resume_full", device)
    part, _ = run_train(Plan(p.data, p.size, p.width, 3, p.batch), work, "resume_part", device)
    train(TrainConfig(steps=6, device=device, cache=str(CACHE), progress=False), resume=part)
    a, b = load_checkpoint(full), load_checkpoint(part)
    diff = max((a[n][k] - b[n][k]).abs().max().item() for n in ("G", "D") for k in a[n])
    return {"ok": diff < 1e-3, "max_abs_diff": diff}


def time_steps(step: Callable[[], None], device: torch.device, n: int) -> float:
    """Seconds per call of `step`, after one warm-up call."""
    step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync(device)
    return (time.perf_counter() - t0) / n


def step_speed(size: int, width: int, batch: int, device: torch.device, n: int) -> dict:
    """img/s of pytorch/examples' step and of dcgan's (fp32 and bf16) on the same data."""
    stages = size.bit_length() - 3  # 4 -> size in stride-2 stages
    real = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    z = torch.randn(batch, 100, device=device)
    rg, rd = ref_generator(100, width, 3, stages).to(device), ref_discriminator(width, 3, stages)
    rd = rd.to(device)
    ropt = [torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (rg, rd)]
    out = {"reference": batch / time_steps(lambda: ref_step(rg, rd, *ropt, real, z), device, n)}
    cfg = ModelConfig(size=size, channels=3, ngf=width, ndf=width)
    g, d = Generator(cfg).to(device), Discriminator(cfg).to(device)
    g.to(memory_format=torch.channels_last)
    d.to(memory_format=torch.channels_last)
    opts = [torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (g, d)]
    real_cl = real.contiguous(memory_format=torch.channels_last)
    for name, autocast in {
        "dcgan_fp32": contextlib.nullcontext(),
        "dcgan_bf16": torch.autocast(device.type, dtype=torch.bfloat16),
    }.items():
        out[name] = batch / time_steps(
            lambda a=autocast: train_step(g, d, *opts, real_cl, z, a), device, n
        )
    return {k: round(v, 1) for k, v in out.items()}


def check_speed(p: Plan, device: str) -> dict:
    """At 64 px batch 128 (the quick mode: 16 px batch 16), then the largest batch that fits."""
    dev = torch.device(device)
    size, batch, n = (16, 16, 2) if p.size == 16 else (64, 128, 20)
    width = p.width
    out = {"batch": {str(batch): step_speed(size, width, batch, dev, n)}}
    while device == "cuda":
        batch *= 2
        try:
            out["batch"][str(batch)] = step_speed(size, width, batch, dev, n)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
        if batch >= 8192:
            break
    first = next(iter(out["batch"].values()))
    out["ratio_bf16_vs_reference"] = round(first["dcgan_bf16"] / first["reference"], 2)
    out["ok"] = True
    return out


def check_table1(args: Args) -> dict:
    """bench/classify_cifar.py with a width-128 D trained for --table1-minutes."""
    if args.quick or not args.table1_minutes:
        return {"ok": True, "skipped": "--quick or --table1-minutes 0"}
    cmd = [sys.executable, str(ROOT / "bench" / "classify_cifar.py"), "--width", "128"]
    cmd += ["--minutes", str(args.table1_minutes), "--retrain", "--name", "gpu_check_table1"]
    got = subprocess.run(cmd, capture_output=True, text=True)
    tail = got.stdout.strip().splitlines()[-12:]
    return {"ok": got.returncode == 0, "table": tail, "json": "gpu_check_table1.json"}


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --device cpu --quick to check the script")
    p = plan(args)
    rows, result = [], {"device": args.device, "quick": args.quick}
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checks = {
            "training (bf16, compile, channels-last)": lambda: check_training(
                p, work, args.device, args.quick
            ),
            "pinned memmap loading": lambda: check_loading(p, args.device),
            "torchrun (nccl on GPUs)": lambda: check_torchrun(p, work, args.device),
            "exact resume": lambda: check_resume(p, work, args.device),
            "speed against pytorch/examples": lambda: check_speed(p, args.device),
            "Table 1 (paper §5.1), width-128 D": lambda: check_table1(args),
        }
        for name, check in checks.items():
            t0 = time.monotonic()
            try:
                got = check()
            except Exception as e:  # a failing path is a row of the report, not the end of it
                got = {"ok": False, "error": f"{type(e).__name__}: {first_line(e)}"}
            got["seconds"] = round(time.monotonic() - t0, 1)
            result[name] = got
            shown = {k: v for k, v in got.items() if k not in ("ok", "seconds", "table")}
            rows.append([name, "ok" if got["ok"] else "FAILED", got["seconds"], str(shown)[:90]])
    print_table(["check", "result", "s", "numbers"], rows)
    print(f"written to {write_results(args.out, result)}")
    if not all(result[name]["ok"] for name in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
