"""Multi-process training with PyTorch's own engine: torchrun + DistributedDataParallel.

Training is the same code in every process; torchrun's RANK / WORLD_SIZE / LOCAL_RANK
environment variables switch it on, and only rank 0 writes (logs, grids, checkpoints).

- The batch size is the GLOBAL batch by default (the paper's 128 over all ranks; rank r
  trains on rows r*b .. (r+1)*b - 1 of it, b = 128 / N); `batch_per_rank` keeps b = 128.
  The global batch of step k is a pure function of (seed, k), so resume stays exact.
- BatchNorm: per-rank statistics by default. PyTorch's SyncBatchNorm runs on GPUs only
  (not over gloo on CPU) and costs one latency-bound collective per BN layer per forward
  (13 a step here), which dominates across nodes. With per-rank statistics each rank
  normalises over its own b images: the paper's exact BN math with `batch_per_rank`, a
  "ghost batch" of 128 / N images with the global batch. `sync_bn` (GPU only) normalises
  over the whole global batch instead, matching one process on it.
- Gradients are averaged by DDP, so with equal shards D and G see the gradient of the mean
  loss over the global batch. D's gradient is not needed in G's step: that forward goes
  through the bare module, so DDP never waits for gradients that are never computed.
- Backend: nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from dcgan.errors import DcganError


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    """The job as torchrun describes it in the environment (one process without torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> Dist:
    """Join the process group (nccl on CUDA, gloo otherwise) when launched by torchrun."""
    job = from_env()
    if job.enabled and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(local_device(device, job))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return job


def local_device(device: torch.device, job: Dist) -> torch.device:
    """One GPU per process: cuda:LOCAL_RANK under torchrun."""
    if job.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", job.local_rank)
    return device


def rank_batch(batch_size: int, job: Dist, per_rank: bool) -> tuple[int, int]:
    """(global batch, this rank's batch) for `batch_size` read as global or as per-rank."""
    if per_rank:
        return batch_size * job.world, batch_size
    if batch_size % job.world:
        raise DcganError(
            f"the global batch {batch_size} does not split evenly over {job.world} processes:"
            " use a multiple of the process count, or --batch-per-rank"
        )
    return batch_size, batch_size // job.world


def shard(x: torch.Tensor, job: Dist) -> torch.Tensor:
    """This rank's equal share of the rows of a global-batch tensor."""
    return x.chunk(job.world)[job.rank] if job.enabled else x


def wrap(module: nn.Module, device: torch.device, job: Dist, sync_bn: bool) -> nn.Module:
    """DistributedDataParallel around `module` (the module itself in one process)."""
    if not job.enabled:
        return module
    if sync_bn:
        if device.type != "cuda":
            raise DcganError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm is GPU-only)")
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    # Buffers (BN running averages) stay per rank: only rank 0's are saved, and training
    # normalises with batch statistics, so broadcasting them each forward would be wasted.
    with warnings.catch_warnings():  # newer torch renames the flag; older lacks the new name
        warnings.simplefilter("ignore", FutureWarning)
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def agree(stats: torch.Tensor, flags: list[bool], job: Dist) -> tuple[torch.Tensor, list[bool]]:
    """Average the step's statistics over ranks, and set each flag (a signal, the time
    limit, a checkpoint due) if any rank saw it, so that every rank leaves the loop or
    saves at the same step and none waits."""
    if not job.enabled:
        return stats, flags
    t = torch.cat([stats.float(), torch.tensor([float(f) for f in flags], device=stats.device)])
    dist.all_reduce(t)
    n = len(flags)
    return t[:-n] / job.world, [bool(v > 0) for v in t[-n:]]


def broadcast(obj: object, job: Dist) -> object:
    """Rank 0's `obj` on every rank."""
    if not job.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(job: Dist) -> None:
    if job.enabled:
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """`dcgan train --nproc N ...`: run `torchrun --standalone --nproc-per-node N -m dcgan
    ...` in this process; returns the job's exit code (non-zero when any rank failed)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc-per-node={nproc}", "-m", "dcgan", *argv])
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values()]
        return next((c for c in codes if c > 0), 1)
    return 0


def strip_flag(argv: list[str], name: str) -> list[str]:
    """`argv` without `name VALUE` / `name=VALUE` (so the workers do not launch again)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out
