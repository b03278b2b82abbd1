"""Random batches from a packed dataset, in an order that is a pure function of the step.

Epoch e visits a permutation drawn from (seed, e); step k reads batch k mod steps_per_epoch
of epoch k // steps_per_epoch (the last partial batch is dropped, as in the paper's loop).
So a resumed run needs only the step to continue on exactly the same data, and a
background thread can read ahead without any state to save. Under torchrun, rank r of N
reads only its share of each global batch: rows r*b .. (r+1)*b - 1, b = batch_size / N.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from dcgan.errors import DcganError


class BatchOrder:
    """Which examples each training step sees."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n < batch_size:
            raise DcganError(
                f"the data has {n} images, fewer than one batch of {batch_size}: lower --batch-size"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        share = batch_size // world
        self._lo, self._hi = rank * share, (rank + 1) * share
        self.steps_per_epoch = n // batch_size
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=gen).numpy()
            self._epoch = epoch
        first = pos * self.batch_size
        return self._perm[first + self._lo : first + self._hi]


def batches(
    dataset, order: BatchOrder, start: int, stop: int, prefetch: int = 3, pin: bool = False
) -> Iterator:
    """Yield uint8 batches for steps start..stop-1, read ahead by a background thread
    (in pinned memory with `pin`, for non-blocking copies to a GPU)."""
    q: queue.Queue = queue.Queue(maxsize=prefetch)
    done = threading.Event()

    def produce() -> None:
        try:
            for step in range(start, stop):
                if done.is_set():
                    return
                batch = dataset.get_batch(order.indices(step))
                q.put(batch.pin_memory() if pin else batch)
        except BaseException as e:  # hand the error to the consumer
            q.put(e)
        q.put(None)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        done.set()
        while not q.empty():  # unblock a producer waiting on a full queue
            q.get_nowait()
