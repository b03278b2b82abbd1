"""Done-when 2 of the foundation: CelebA at 64 px from the shared tar, on a fixed CPU budget.

Trains the paper's 64 px architecture on the 5,999 aligned CelebA faces for a fixed
budget of steps, then writes the sample grid and loss curves shown in docs/training.md
(docs/celeba64.png, docs/celeba64_losses.png) and the figures to bench/results/celeba64.json.
The run directory (bench/runs/...) is the model the latent-space tools reuse.

    python bench/celeba64.py [--steps 500] [--ngf 32]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from dcgan import ModelConfig, TrainConfig, load, sample, train
from dcgan.plots import plot_training, read_stats
from dcgan.sampling import save_grid

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "celeba_aligned_00.tar"))
    ap.add_argument("--steps", type=int, default=500, help="training budget in steps")
    ap.add_argument("--ngf", type=int, default=32, help="G and D width (Figure 1 is 128)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--ema", type=float, default=0.999, help="EMA decay of G (0 = none)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "runs"))
    ap.add_argument("--resume", help="a run directory to continue")
    args = ap.parse_args()

    config = TrainConfig(
        data=args.data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        model=ModelConfig(size=64, channels=3, ngf=args.ngf, ndf=args.ngf),
        ema=args.ema or None,
        sample_every=100,
        checkpoint_every=100,
        log_every=10,
        cache=str(ROOT / ".cache" / "dcgan"),
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
    path = ROOT / "bench" / "results" / "celeba64.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
