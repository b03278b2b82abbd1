"""Run by torchrun from tests/test_distributed.py: a tiny DDP run; each rank saves its weights."""

import sys
from pathlib import Path

import torch

from dcgan import ModelConfig, TrainConfig, distributed
from dcgan.training import Trainer


def tiny(out: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        data="digits",
        out=str(out / "runs"),
        model=ModelConfig(size=16, channels=1, ngf=8, ndf=8),
        batch_size=32,
        steps=steps,
        log_every=1,
        sample_every=1000,
        checkpoint_every=1000,
        cache=str(out / "cache"),
        precision="fp32",  # compared with a one-process reference to float rounding
        progress=False,
    )


if __name__ == "__main__":
    out, steps = Path(sys.argv[1]), int(sys.argv[2])
    trainer = Trainer(tiny(out, steps))
    trainer.run()
    params = {f"G.{k}": v for k, v in trainer.g.named_parameters()}
    params |= {f"D.{k}": v for k, v in trainer.d.named_parameters()}
    torch.save({k: v.detach() for k, v in params.items()}, out / f"rank{trainer.job.rank}.pt")
    distributed.shutdown()
