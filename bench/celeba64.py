"""Done-when 2 of the foundation: CelebA at 64 px from the shared tar, on a fixed CPU budget.

Trains the paper's 64 px architecture on the 5,999 aligned CelebA faces for a fixed
budget of steps, then writes the sample grid and loss curves shown in docs/training.md
(docs/celeba64.png, docs/celeba64_losses.png) and the figures to bench/results/celeba64.json.
The run directory (bench/runs/...) is the model the latent-space tools reuse.

    python bench/celeba64.py [--steps 500] [--ngf 32]
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

import torch
from harness import CACHE, ROOT, SHARED, parse_args, write_results

from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.options import opt
from dcgan.plots import plot_training, read_stats
from dcgan.sampling import save_grid


@dataclass
class Args:
    """The command line of celeba64.py."""

    data: str = opt(str(SHARED / "celeba_aligned_00.tar"))
    steps: int = opt(500, "training budget in steps")
    ngf: int = opt(32, "G and D width (Figure 1 is 128)")
    batch_size: int = opt(128)
    ema: float = opt(0.999, "EMA decay of G (0 = none)")
    out: str = opt(str(ROOT / "bench" / "runs"))
    resume: str | None = opt(None, "a run directory to continue")


def main() -> None:
    args = parse_args(Args, __doc__)

    config = TrainConfig(
        data=args.data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        model=ModelConfig(size=64, channels=3, ngf=args.ngf, ndf=args.ngf),
        ema=args.ema or None,
        precision="fp32",  # the published figures predate bf16 as the CPU default
        sample_every=100,
        checkpoint_every=100,
        log_every=10,
        cache=str(CACHE),
    )
    t0 = time.monotonic()
    result = train(config, resume=args.resume)
    if result.interrupted:
        raise SystemExit(f"interrupted; continue with --resume {result.run_dir}")
    wall = time.monotonic() - t0
    model = load(result.run_dir)
    docs = ROOT / "docs"
    save_grid(sample(model, n=64), docs / "celeba64.png", nrow=8)
    shutil.copyfile(plot_training(result.run_dir), docs / "celeba64_losses.png")
    stats = read_stats(result.run_dir)
    last = stats[-1]
    print(
        f"\nCelebA 64 px: {result.step} steps = {last['epoch']:.1f} epochs in {wall / 60:.1f} min "
        f"({torch.get_num_threads()} threads), ngf=ndf={args.ngf}, batch {args.batch_size}"
    )
    head = ("step", "epoch", "loss_D", "loss_G", "D(x)", "D(G(z))", "img/s")
    print(" ".join(f"{h:>8}" for h in head))
    for r in stats[:: max(1, len(stats) // 10)] + [last]:
        print(
            f"{r['step']:>8} {r['epoch']:>8.2f} {r['loss_D']:>8.3f} {r['loss_G']:>8.3f} "
            f"{r['D_x']:>8.3f} {r['D_G_z']:>8.3f} {r['img_s']:>8.1f}"
        )
    out = {
        "run_dir": str(result.run_dir),
        "steps": result.step,
        "epochs": last["epoch"],
        "budget_steps": args.steps,
        "wall_seconds": round(wall, 1),
        "img_per_s": round(result.step * args.batch_size / last["time"], 1),
        "ngf": args.ngf,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "final": {k: last[k] for k in ("loss_D", "loss_G", "D_x", "D_G_z")},
        "grid": "docs/celeba64.png",
        "losses": "docs/celeba64_losses.png",
    }
    path = write_results("celeba64", out)
    print(f"written {path}")


if __name__ == "__main__":
    main()
