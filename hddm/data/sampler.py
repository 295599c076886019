"""An endless shuffled sampler whose position is a function of the optimizer step, so resuming from a
checkpoint at step s continues with exactly the batches an uninterrupted run would have drawn."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

from hddm.errors import HddmError


class StepSeededSampler(Sampler[int]):
    """Epoch e is the permutation seeded by (seed, e), cut into whole global batches (the short tail is
    skipped); under DDP each rank takes its own slice of every global batch. No __len__: training length
    is set by steps, not epochs."""

    def __init__(
        self, num_items: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ):
        self.global_batch = batch_size * world_size
        if num_items < self.global_batch:
            raise HddmError(
                f"the cluster has {num_items} items, fewer than one batch of {self.global_batch}: lower data.batch_size"
            )
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.rank = start_step, rank

    def __iter__(self):
        batches_per_epoch = self.num_items // self.global_batch
        epoch, first_batch = divmod(self.start_step, batches_per_epoch)
        while True:
            order = torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            for batch in range(first_batch, batches_per_epoch):
                start = batch * self.global_batch + self.rank * self.batch_size
                yield from order[start : start + self.batch_size].tolist()
            epoch, first_batch = epoch + 1, 0
