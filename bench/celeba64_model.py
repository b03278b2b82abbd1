"""The CelebA 64 px DCGAN that bench/project_celeba.py measures: trained on the 5,340 faces of
the shared CelebA tar outside CelebA's official test partition, each centre-cropped to its
178 px square and resized to 64 px (bench/augment_celeba.read_faces), so every test photo
stays held out. ngf = ndf = 64, bf16, EMA 0.999, seed 0, 40 epochs (1,640 steps); about
50 minutes of one core of a 2-core AMD EPYC CPU.

Run: python bench/celeba64_model.py (writes .cache/dcgan/celeba64_model/; run it again to
resume a run that was stopped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from augment_celeba import FIRST_TEST, read_faces
from harness import CACHE, parse_args

from dcgan import ModelConfig, TrainConfig, train
from dcgan.options import opt

HERE = CACHE / "celeba64_model"


@dataclass
class Args:
    epochs: float = opt(40.0)
    threads: int = opt(1)


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(args.threads)
    data = HERE / "celeba_train64.npz"
    if not data.exists():
        HERE.mkdir(parents=True, exist_ok=True)
        images, numbers, _ = read_faces(64)
        np.savez(data, x_train=images[numbers < FIRST_TEST])
    runs = sorted((HERE / "runs").glob("0*"))
    if runs:  # continue the run (a finished one returns at once)
        print(train(resume=str(runs[0])))
        return
    model = ModelConfig(size=64, ngf=64, ndf=64)
    config = TrainConfig(
        data=str(data),
        model=model,
        out=str(HERE / "runs"),
        epochs=args.epochs,
        ema=0.999,
        precision="bf16",
        seed=0,
    )
    print(train(config))


if __name__ == "__main__":
    main()
