"""Checkpoints written to a temporary file and renamed into place: a kill mid-write never tears last.ckpt."""

from __future__ import annotations

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from hddm.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
