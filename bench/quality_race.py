"""The quality race: dcgan's default training against a pytorch/examples-style loop at the
same CPU wall time, scored by FID and KID in the field's units (the TF FID Inception,
NVIDIA's preprocessing: `dcgan pull inception` first).

    python bench/quality_race.py [--data cifar] [--minutes 3] [--points 3] [--seeds 0,1,2]
        [--n 150] [--n-ref 600]
    python bench/quality_race.py --data celeba --minutes 6 --points 2 --n 150

Data (bench/quality_race_data.py): `--data cifar` is `cifar10_train20k.npz` of the shared
data at 32 px: `--n-ref` of its lossless images (`train_lossless`, drawn with seed 0) are
held out as the real side of every FID/KID and take no part in training; both loops train
on all the other images (lossless and JPEG-decoded, as the file holds them). `--data celeba`
is the shared CelebA tar at 64 px: its official test partition (659 faces) is held out, the
other 5,340 faces are trained on. A control row scores `--n` training images against the
same held-out set: the floor of a generator that reproduced its training data.

Loops, one torch thread each, interleaved per seed so that a change of machine load hits
both:
- `dcgan`: `dcgan.train(TrainConfig(data=..., model=ModelConfig(size=S), seed=s))`, every
  other field at its default (ngf = ndf = 128, batch 128, z uniform, channels-last, the
  watchdog) but precision, kept at fp32 (the default on CPUs when the race was run; bf16
  is now the default on CPUs that have it natively), stopped by `time_limit` at each point
  and resumed to the next;
- `reference`: pytorch/examples `dcgan/main.py` at its defaults (ngf = ndf = 64, batch 64,
  z normal, its weights_init, Sigmoid + BCELoss, Adam 2e-4 / 0.5), 4 stages at 64 px (its
  architecture), 3 for 32 px, the step of bench/reference_loop.py; the clock stops while a
  snapshot is taken.
At `--points` evenly spaced wall times each run's G is sampled (seeds 0..n-1, BatchNorm on a
fixed batch as `dcgan sample` does, the same code for both loops) and scored.
Writes bench/results/quality_race.json (quality_race_celeba.json for CelebA; after every
run: an interrupted race keeps its runs) and docs/quality_race_{cifar,celeba}.png.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fid_reference import metrics
from harness import ROOT, parse_args, print_table, results_path, shrink, write_results
from quality_race_data import DESCRIPTIONS, SIZES, WORK, Split, split_data
from reference_loop import ref_discriminator, ref_generator, ref_step
from torch import nn

from dcgan.checkpoint import load_checkpoint
from dcgan.config import ModelConfig, TrainConfig
from dcgan.metrics.extractors import Extractor, get_extractor
from dcgan.models import Generator
from dcgan.options import opt
from dcgan.sampling import load, sample
from dcgan.torch_examples import g_state, infer_config, layers
from dcgan.training import train

LOOPS = ("dcgan", "reference")
# A diagnostic loop: dcgan's training at the reference's width (ngf = ndf = 64).
WIDTHS = {"dcgan": 128, "dcgan-w64": 64}


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    data: str = opt("cifar", "cifar (CIFAR-10 subset, 32 px) or celeba (CelebA tar, 64 px)")
    minutes: float = opt(3.0, "training wall time of each run (minutes)")
    points: int = opt(3, "evaluations per run, evenly spaced in wall time")
    seeds: tuple[int, ...] = opt((0, 1, 2), "training seeds")
    loops: tuple[str, ...] = opt(LOOPS, "loops to race: dcgan, reference, dcgan-w64")
    n: int = opt(150, "samples per evaluation (and training images of the control)")
    n_ref: int = opt(0, "held-out real images (0: 600 for cifar, all 659 for celeba)")
    threads: int = opt(1, "torch threads")
    out: str | None = opt(None, "results name or path (quality_race, quality_race_celeba)")
    plot: str = opt("docs/quality_race_{data}.png", "the figure ('' for none)")
    replot: bool = opt(False, "only redraw the table and figure from the results JSON")
    extra: tuple[str, ...] = opt((), "with --replot: more results whose runs join them")
    merged: str = opt("", "with --replot: also write the joined results under this name")


def score(g: Generator, z_dist: str, args: Args, split: Split, ext: Extractor) -> dict:
    """FID and KID of n samples (seeds 0..n-1) against the held-out images."""
    t0 = time.monotonic()
    images = sample(g, seeds=range(args.n), z_dist=z_dist, n=args.n)
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    out = metrics(ext(pixels).features, split.reference)
    return {**out, "score_s": round(time.monotonic() - t0, 1)}


def run_dcgan(seed: int, args: Args, split: Split, ext: Extractor, loop: str) -> list[dict]:
    """The default training, stopped at each point by its time limit and resumed."""
    run, rows, width = None, [], WIDTHS[loop]
    size = split.size
    model = ModelConfig(size=size) if width == 128 else ModelConfig(size=size, ngf=width, ndf=width)
    for k in range(1, args.points + 1):
        config = TrainConfig(
            data=str(split.train_npz),
            out=str(WORK / "runs"),
            model=model,
            seed=seed,
            time_limit=args.minutes * k / args.points,
            precision="fp32",  # the published race predates bf16 as the CPU default
            progress=False,
        )
        run = train(config, resume=run).run_dir
        loaded = load(run / "latest.pt", ema=False)
        ckpt = load_checkpoint(run / "latest.pt")
        batch = config.batch_size
        row = {"step": loaded.step, "images": loaded.step * batch, "wall_s": ckpt["elapsed"]}
        rows.append({**row, **score(loaded.generator, "uniform", args, split, ext)})
        print(f"  {loop} seed {seed}: {rows[-1]}", flush=True)
    return rows


def weights_init(m: nn.Module) -> None:
    """pytorch/examples' init: N(0, 0.02) convs, BatchNorm N(1, 0.02) scale and 0 shift."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def as_dcgan(net_g: nn.Sequential) -> Generator:
    """The reference's G as our Generator (dcgan.torch_examples), to sample both alike."""
    state = {k: v.detach().clone() for k, v in net_g.state_dict().items()}
    g_layers = layers(state, "reference G")
    g = Generator(infer_config(g_layers, None, "reference G"))
    g.load_state_dict(g_state(g_layers, g.base_channels))
    return g.eval()


def run_reference(seed: int, args: Args, split: Split, ext: Extractor, loop: str) -> list[dict]:
    """pytorch/examples' loop at its defaults; the clock runs only while it trains."""
    torch.manual_seed(seed)
    stages = int(math.log2(split.size // 4))  # main.py's 64 px nets have 4
    net_g, net_d = ref_generator(100, 64, 3, stages), ref_discriminator(64, 3, stages)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data, batch = torch.from_numpy(split.train_images), 64
    targets = [args.minutes * 60 * k / args.points for k in range(1, args.points + 1)]
    snaps, step, seen, wall = [], 0, 0, 0.0
    while targets:
        for idx in torch.randperm(len(data)).split(batch):  # shuffle, last batch kept
            t0 = time.monotonic()
            real = data[idx].float() / 127.5 - 1  # ToTensor + Normalize(0.5, 0.5)
            noise = torch.randn(len(idx), 100, 1, 1)
            ref_step(net_g, net_d, opt_g, opt_d, real, noise)
            wall += time.monotonic() - t0
            step, seen = step + 1, seen + len(idx)
            if wall >= targets[0]:
                snaps.append(({"step": step, "images": seen, "wall_s": wall}, as_dcgan(net_g)))
                targets.pop(0)
                if not targets:
                    break
    rows = []
    for row, g in snaps:
        rows.append({**row, **score(g, "normal", args, split, ext)})
        print(f"  reference seed {seed}: {rows[-1]}", flush=True)
    return rows


def loops_of(runs: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["loop"] for r in runs))


def summary(runs: list[dict], control: dict) -> list[list]:
    """One row per loop and point: mean ± std over seeds."""
    table = []
    for loop in loops_of(runs):
        mine = [r["points"] for r in runs if r["loop"] == loop]
        for k in range(min(map(len, mine), default=0)):
            pts = [m[k] for m in mine]

            def ms(key: str, fmt: str, pts: list[dict] = pts) -> str:
                v = np.array([p[key] for p in pts], dtype=float)
                std = f" ± {v.std(ddof=1):{fmt}}" if len(v) > 1 else ""
                return f"{v.mean():{fmt}}{std}"

            table.append(
                [
                    loop,
                    k + 1,
                    len(pts),
                    ms("wall_s", ".0f"),
                    ms("images", ".0f"),
                    ms("fid", ".1f"),
                    ms("kid_mean", ".4f"),
                ]
            )
    table.append(["control: training images", "-", "-", "-", "-", f"{control['fid']:.1f}"])
    table[-1].append(f"{control['kid_mean']:.4f}")
    return table


def plot(runs: list[dict], control: dict, args: Args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(2, 2, figsize=(8, 5.6), sharey="row")
    colours = {"dcgan": "tab:blue", "reference": "tab:orange", "dcgan-w64": "tab:green"}
    r0 = {r["loop"]: r["seed"] for r in reversed(runs)}  # label each loop's first run once
    for row, metric in enumerate(("fid", "kid_mean")):
        for col, x in enumerate(("wall_s", "images")):
            ax = axes[row, col]
            for r in runs:
                xs = [p[x] / (60 if x == "wall_s" else 1000) for p in r["points"]]
                ys = [p[metric] for p in r["points"]]
                label = r["loop"] if r["seed"] == r0[r["loop"]] else None
                ax.plot(xs, ys, "o-", color=colours[r["loop"]], alpha=0.7, label=label)
            ax.axhline(control[metric], color="grey", ls="--", lw=1, label="training images")
            ax.set_xlabel(
                "training wall time (min, 1 core)" if x == "wall_s" else "images seen (1,000s)"
            )
            if x == "images":
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(FixedLocator([0.5, 1, 2, 5, 10, 20, 50]))
                ax.xaxis.set_major_formatter(ScalarFormatter())
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylabel(f"{metric.split('_')[0].upper()} (N={args.n})")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    name = {"cifar": "CIFAR-10 32 px", "celeba": "CelebA 64 px"}[args.data]
    fig.suptitle(f"{name}: FID/KID vs {args.n_ref} held-out images", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    shrink(path)


def verdict(runs: list[dict]) -> list[str]:
    """Per loop and point, its FID and KID against the reference's: below (its worst seed
    better than the reference's best), above (its best worse than the reference's worst),
    or within the seed spread."""
    lines = []
    base = [r["points"] for r in runs if r["loop"] == "reference"]
    for loop in loops_of(runs):
        mine = [r["points"] for r in runs if r["loop"] == loop]
        if loop == "reference" or not base:
            continue
        for k in range(min(len(p) for p in mine + base)):
            words = []
            for key in ("fid", "kid_mean"):
                ours, ref = [p[k][key] for p in mine], [p[k][key] for p in base]
                where = "within the seed spread of"
                if max(ours) < min(ref):
                    where = "below"
                elif min(ours) > max(ref):
                    where = "above"
                span = f"{min(ours):.4g}..{max(ours):.4g} vs {min(ref):.4g}..{max(ref):.4g}"
                words.append(f"{key.split('_')[0].upper()} {where} the reference's ({span})")
            lines.append(f"{loop}, point {k + 1}: " + "; ".join(words))
    return lines


def report(runs: list[dict], control: dict, args: Args) -> None:
    print_table(
        ["loop", "point", "seeds", "wall s", "images seen", f"FID (N={args.n})", "KID"],
        summary(runs, control),
    )
    print("against the reference, over seeds (min..max):")
    print("\n".join(verdict(runs)))
    if args.plot:
        plot(runs, control, args, ROOT / args.plot.format(data=args.data))


def replot(args: Args) -> None:
    """The table and figure of written results, with the runs of `--extra` results made
    under the same conditions (other loops, other seeds); `--merged` writes them joined."""
    record = json.loads(results_path(args.out).read_text())
    args.n, args.n_ref = record["n_samples"], record["n_reference"]
    args.data = record.get("dataset", "cifar")
    runs, commands, seconds = list(record["runs"]), [record["command"]], record["seconds"]
    for name in args.extra:
        more = json.loads(results_path(name).read_text())
        same = ("n_samples", "n_reference", "control", "minutes", "extractor")
        if any(more.get(k) != record.get(k) for k in same):
            raise SystemExit(f"--extra {name}: not made under the same conditions as {args.out}")
        runs += more["runs"]
        commands.append(more["command"])
        seconds += more["seconds"]
    if args.merged:
        joined = {**record, "runs": runs, "seconds": seconds, "command": " && ".join(commands)}
        print(f"results: {write_results(args.merged, joined)}")
    report(runs, record["control"], args)


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.data not in SIZES:
        raise SystemExit(f"--data {args.data}: choose one of {', '.join(SIZES)}")
    args.out = args.out or ("quality_race" if args.data == "cifar" else f"quality_race_{args.data}")
    if args.replot:
        replot(args)
        return
    torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    ext = get_extractor("inception")
    split = split_data(args.data, args.n, args.n_ref, ext)
    args.n_ref = len(split.held_out)
    control = metrics(split.control, split.reference)
    print(f"control (training images vs held-out, N={args.n}): {control}", flush=True)
    runs: list[dict] = []
    record = {
        "extractor": ext.name,
        "dataset": args.data,
        "data": DESCRIPTIONS[args.data][0],
        "n_samples": args.n,
        "n_reference": args.n_ref,
        "reference_set": DESCRIPTIONS[args.data][1],
        "minutes": args.minutes,
        "control": control,
        "runs": runs,
    }
    for seed in args.seeds:
        for loop in args.loops:
            run = run_reference if loop == "reference" else run_dcgan
            runs.append({"loop": loop, "seed": seed, "points": run(seed, args, split, ext, loop)})
            record["seconds"] = round(time.monotonic() - t0, 1)
            write_results(args.out, record)
    report(runs, control, args)
    print(f"results: {write_results(args.out, record)}")


if __name__ == "__main__":
    main()
