"""Map-style datasets yielding {"x": [C, H, W] in model space, "text": [L, D], "text_mask": [L]}.

Both scales yield the same dict, so the expert's training step is one code path.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from torch.utils.data import Dataset

from hddm.errors import HddmError


class CaptionTableDataset(Dataset):
    """In-memory images with captions drawn from a small table of prompt embeddings (the embedded default).

    images: uint8 [N, C, H, W], scaled to [-1, 1]; caption_index: int64 [N] into tokens [P, L, D] / mask [P, L];
    clusters: int64 [N], added to each item as "cluster" when given (the router's labels).
    """

    def __init__(
        self,
        images: torch.Tensor,
        caption_index: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        clusters: torch.Tensor | None = None,
    ):
        self.images, self.caption_index, self.tokens, self.mask = images, caption_index, tokens, mask
        self.clusters = clusters

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        caption = self.caption_index[i]
        item = {
            "x": self.images[i].float() / 127.5 - 1.0,
            "text": self.tokens[caption],
            "text_mask": self.mask[caption],
        }
        if self.clusters is not None:
            item["cluster"] = self.clusters[i]
        return item


class LatentShardDataset(Dataset):
    """Real scale: cached VAE latents and caption embeddings in safetensors shards, read row by row through
    memory maps (tensors `latents` [n, C, H, W], `text` [n, L, D], `text_mask` [n, L], any float dtype).
    `indices` selects the rows of one cluster, as global row numbers across the sorted shards; `clusters`
    (per selected row) adds the "cluster" label the router trains on."""

    def __init__(self, shard_dir: str | Path, indices=None, scale_factor: float = 1.0, clusters=None):
        self.shards = sorted(Path(shard_dir).expanduser().glob("*.safetensors"))
        if not self.shards:
            raise HddmError(
                f"no *.safetensors latent shards in {shard_dir}: run `python -m hddm.prepare` or fix data.shard_dir"
            )
        sizes = []
        for shard in self.shards:
            with safe_open(str(shard), framework="pt") as handle:
                sizes.append(handle.get_slice("latents").get_shape()[0])
        self.offsets = torch.tensor([0, *sizes]).cumsum(0)
        self.indices = torch.arange(int(self.offsets[-1])) if indices is None else torch.as_tensor(indices)
        self.scale_factor, self.clusters = scale_factor, clusters
        self._handles: dict[int, object] = {}  # opened lazily, per worker process

    def __len__(self):
        return len(self.indices)

    def _handle(self, shard: int):
        if shard not in self._handles:
            self._handles[shard] = safe_open(str(self.shards[shard]), framework="pt")
        return self._handles[shard]

    def __getitem__(self, i):
        row = int(self.indices[i])
        shard = int(torch.searchsorted(self.offsets, row, right=True)) - 1
        local = row - int(self.offsets[shard])
        handle = self._handle(shard)
        item = {
            "x": handle.get_slice("latents")[local].float() * self.scale_factor,
            "text": handle.get_slice("text")[local].float(),
            "text_mask": handle.get_slice("text_mask")[local].bool(),
        }
        if self.clusters is not None:
            item["cluster"] = self.clusters[i]
        return item
