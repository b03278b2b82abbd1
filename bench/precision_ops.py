"""bf16 autocast outside training, on the CPU: is it faster, and how much does the output move?

Each job runs in fp32 and under `torch.autocast("cpu", torch.bfloat16)`, interleaved (one
call of each per round, the order alternating), on the same inputs:

- sample: the trained 64 px DigiFace G (shared/data/pretrained, ngf 64, converted), 512
  images as `dcgan sample` makes them (channels-last, batches of 256, BN in batch mode);
  the difference: uint8 pixels of the saved images (max and mean |difference| in levels).
- dedup: `dcgan dedup`'s hash models (paper and invariant, 128 bits), trained for 2 epochs
  on 5,000 of the 20,000 CIFAR-10 images, hashing all 20,000; the difference: the share of
  bits and of whole hashes that change.
- evaluate: the MNIST classifier's features (`--extractor mnist`) of 2,000 MNIST test
  digits, and the CIFAR-10 judge's (bench/precision_parity.py) of 2,000 CIFAR-10 images;
  the difference: the cosine of each image's two feature vectors, and the agreement of the
  argmax of the logits.
- classify: D's features (`dcgan classify`'s max-pooled 4x4 maps of every layer) of 2,000
  CIFAR-10 images, from the D of a 1,000-step CIFAR-10 run of bench/precision_parity.py
  (fp32, seed 0, width 32); the difference: the cosine per image.

The tolerances, fixed before the runs: samples within 1 level of 255 on average; dedup at
most 0.1 % of bits flipped; features at a mean cosine >= 0.999 and the argmax unchanged on
>= 99.9 % of images. A job adopts bf16 under `auto` only if it is also >= 1.2x faster.

    python bench/precision_ops.py [--rounds 5]
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from harness import CACHE, SHARED, converted, cpu_model, parse_args, print_table, write_results
from precision_parity import CIFAR_JUDGE, RUNS

from dcgan.conventions import quantize, z_from_seeds
from dcgan.data.packed import resolve_data
from dcgan.experiments.classify.features import d_features, with_batch_statistics
from dcgan.experiments.dedup_hash import train_hash
from dcgan.metrics.extractors import get_extractor
from dcgan.options import opt
from dcgan.options_data import DedupConfig
from dcgan.sampling import generate, load

WEIGHTS = SHARED / "pretrained/digiface64_dcgan/weights.tar"
TOL = {"sample_mean_levels": 1.0, "dedup_bit_flips": 0.001, "cosine": 0.999, "argmax": 0.999}
MIN_SPEEDUP = 1.2


def autocast(precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Job:
    """One job: `run()` gives its output; `compare(fp32, bf16)` the difference."""

    name: str
    images: int
    run: Callable[[], object]
    compare: Callable[[object, object], dict]
    within: Callable[[dict], bool]


def cosine(a: torch.Tensor, b: torch.Tensor) -> dict:
    cos = F.cosine_similarity(a.float().flatten(1), b.float().flatten(1))
    return {"cosine_mean": cos.mean().item(), "cosine_min": cos.min().item()}


def sample_job(n: int) -> Job:
    model = converted(WEIGHTS)
    z = z_from_seeds(list(range(n)), model.config.model.nz, model.config.z_dist)

    def run() -> torch.Tensor:
        return quantize(generate(model.generator, z, z_dist=model.config.z_dist))

    def compare(a: torch.Tensor, b: torch.Tensor) -> dict:
        d = (a.int() - b.int()).abs().float()
        return {
            "max_levels": d.max().item(),
            "mean_levels": d.mean().item(),
            "pixels_changed": (d > 0).float().mean().item(),
        }

    return Job("sample", n, run, compare, lambda d: d["mean_levels"] <= TOL["sample_mean_levels"])


def dedup_jobs() -> list[Job]:
    cifar = resolve_data(str(SHARED / "cifar10_train20k.npz"), 32, 3, cache=CACHE, progress=False)
    images = np.asarray(cifar.get_batch(np.arange(len(cifar))).numpy())
    jobs = []
    for kind in ("paper", "invariant"):
        model = train_hash(images, DedupConfig(hash=kind, epochs=2, train_limit=5000)).eval()

        def compare(a: np.ndarray, b: np.ndarray) -> dict:
            flips = np.unpackbits(a ^ b, axis=1)
            return {
                "bit_flips": float(flips.mean()),
                "hashes_changed": float(flips.any(1).mean()),
                "max_bits_flipped": int(flips.sum(1).max()),
            }

        jobs.append(
            Job(
                f"dedup hash ({kind})",
                len(images),
                lambda m=model: m.hash(images),
                compare,
                lambda d: d["bit_flips"] <= TOL["dedup_bit_flips"],
            )
        )
    return jobs


def feature_jobs(n: int) -> list[Job]:
    with np.load(SHARED / "mnist.npz") as f:
        digits = torch.from_numpy(f["x_test"][:n]).unsqueeze(1)
    cifar = resolve_data(str(SHARED / "cifar10_train20k.npz"), 32, 3, cache=CACHE, progress=False)
    photos = cifar.get_batch(np.arange(n))

    def compare(a, b) -> dict:
        return {
            **cosine(a.features, b.features),
            "argmax_agree": (a.logits.argmax(1) == b.logits.argmax(1)).float().mean().item(),
        }

    def ok(d: dict) -> bool:
        return d["cosine_mean"] >= TOL["cosine"] and d["argmax_agree"] >= TOL["argmax"]

    jobs = []
    for name, ext, images in (
        ("evaluate features (mnist)", get_extractor("mnist"), digits),
        ("evaluate features (CIFAR judge)", get_extractor(str(CIFAR_JUDGE)), photos),
    ):
        jobs.append(Job(name, n, lambda e=ext, x=images: e(x), compare, ok))
    ckpt = next(
        (
            run / "ckpt-00001000.pt"
            for run in sorted((RUNS / "runs").glob("*cifar10*"))
            if (run / "ckpt-00001000.pt").exists()
            and json.loads((run / "config.json").read_text())["precision"] == "fp32"
            and json.loads((run / "config.json").read_text())["seed"] == 0
        ),
        None,
    )
    if ckpt is None:
        raise SystemExit("no CIFAR-10 run of bench/precision_parity.py: run it first")
    d = with_batch_statistics(load(ckpt).discriminator)
    jobs.append(
        Job(
            "classify D features",
            n,
            lambda: d_features(d, photos),
            cosine,
            lambda r: r["cosine_mean"] >= TOL["cosine"],
        )
    )
    return jobs


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    rounds: int = opt(5, "rounds: one call of each job in each precision")
    n: int = opt(2000, "images of the feature jobs")
    samples: int = opt(512, "images of the sampling job")
    name: str = opt("precision_ops", "results JSON name")


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.manual_seed(0)
    jobs = [sample_job(args.samples), *dedup_jobs(), *feature_jobs(args.n)]
    rows, out = [], []
    for job in jobs:
        outputs = {}
        for p in ("fp32", "bf16"):  # warm-up, and the outputs compared
            with autocast(p):
                outputs[p] = job.run()
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for r in range(args.rounds):
            for p in ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32"):
                t = time.perf_counter()
                with autocast(p):
                    job.run()
                times[p].append(time.perf_counter() - t)
        ratios = [a / b for a, b in zip(times["fp32"], times["bf16"], strict=True)]
        speedup = statistics.median(ratios)
        diff = job.compare(outputs["fp32"], outputs["bf16"])
        within = job.within(diff)
        adopt = within and speedup >= MIN_SPEEDUP
        rate = {p: job.images / statistics.median(t) for p, t in times.items()}
        out.append(
            {
                "job": job.name,
                "images": job.images,
                "img_s": {p: round(v, 1) for p, v in rate.items()},
                "speedup": round(speedup, 3),
                "speedup_range": [round(min(ratios), 3), round(max(ratios), 3)],
                "difference": diff,
                "within_tolerance": within,
                "adopt": adopt,
            }
        )
        shown = ", ".join(f"{k} {v:.4g}" for k, v in diff.items())
        rows.append(
            [job.name, f"{rate['fp32']:.0f}", f"{rate['bf16']:.0f}", f"{speedup:.2f}", shown, adopt]
        )
        print(f"{job.name}: done", flush=True)
    print(f"CPU: {cpu_model()}; tolerances {TOL}, adopt at >= {MIN_SPEEDUP}x")
    print_table(["job", "fp32 img/s", "bf16 img/s", "x", "bf16 vs fp32", "adopt"], rows)
    result = {"cpu": cpu_model(), "tolerances": TOL, "min_speedup": MIN_SPEEDUP, "jobs": out}
    print(f"written {write_results(args.name, result)}")


if __name__ == "__main__":
    main()
