"""`make demo`: the paper's model trained on scikit-learn's embedded digits at 32 px (offline,
a few minutes on 2 CPU cores) with FID (MNIST-classifier features) measured as it trains,
then a sample grid, an interpolation strip and the run's HTML report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dcgan.config import ModelConfig, TrainConfig
from dcgan.conventions import z_from_seeds
from dcgan.report import write_report
from dcgan.sampling import generate, load, sample, save_grid, walk
from dcgan.training import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=300, help="training steps (default: %(default)s)")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.monotonic()
    config = TrainConfig(
        data="digits",
        out=str(out / "runs"),
        model=ModelConfig(size=32, channels=1, ngf=64, ndf=64),
        batch_size=64,
        steps=args.steps,
        ema=0.999,
        sample_every=200,
        checkpoint_every=200,
        log_every=20,
        eval_every=100,
        eval_extractor="mnist",
        eval_n=1000,
        cache=str(out / "cache"),
    )
    result = train(config)
    model = load(result.run_dir)
    grid = save_grid(sample(model, n=64), out / "samples.png", nrow=8)
    z = walk(z_from_seeds([0, 1, 2, 3], model.generator.config.nz, config.z_dist), steps=8)
    strip = save_grid(generate(model.generator, z, z_dist=config.z_dist), out / "walk.png", 25)
    report = write_report(result.run_dir)
    print(f"\ndemo done in {time.monotonic() - t0:.0f} s")
    print(f"  run directory (checkpoints, stats.jsonl, tensorboard): {result.run_dir}")
    print(f"  sample grid:        {grid}")
    print(f"  interpolation strip: {strip}")
    print(f"  report (open it in a browser): {report}")


if __name__ == "__main__":
    main()
