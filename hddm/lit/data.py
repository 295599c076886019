"""ExpertDataModule: the items of one cluster, with their caption embeddings, at either scale."""

from __future__ import annotations

from functools import lru_cache, partial

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from hddm.config import DataConfig, PartitionConfig, TextConfig
from hddm.data.datasets import CaptionTableDataset, LatentShardDataset
from hddm.data.embedded import PixelPool, is_pixel_pool, pool_of
from hddm.data.partition import Partition, label_rule_partition, load_partition, save_partition
from hddm.data.sampler import StepSeededSampler
from hddm.data.text_cache import cached_prompt_embeddings
from hddm.errors import HddmError
from hddm.models.text import build_text_encoder


def text_encoder_id(text: TextConfig) -> str:
    return f"{text.name}:" + ",".join(f"{k}={v}" for k, v in sorted(text.kwargs.items()))


@lru_cache(maxsize=2)
def _shared_encoder(name: str, kwargs: tuple):
    return build_text_encoder(name, **dict(kwargs))  # one load per process, however many prompt lists miss


def prompt_embeddings(prompts: list[str], text: TextConfig, cache_dir: str):
    make = partial(_shared_encoder, text.name, tuple(sorted(text.kwargs.items())))
    return cached_prompt_embeddings(prompts, text_encoder_id(text), make, cache_dir)


class ExpertDataModule(L.LightningDataModule):
    """The items of one cluster (an expert), or of all clusters labelled by cluster id (cluster=None: the router;
    router_clusters: only these clusters' items, the data a router's trainer has when some contributors are absent)."""

    def __init__(
        self,
        data: DataConfig,
        partition: PartitionConfig,
        text: TextConfig,
        cluster: int | None,
        seed: int,
        router_clusters: list[int] | None = None,
    ):
        super().__init__()
        self.data_cfg, self.partition_cfg, self.text_cfg = data, partition, text
        self.cluster, self.seed, self.router_clusters = cluster, seed, router_clusters
        self.train_set = self.val_set = None
        self.labels: np.ndarray | None = None  # of the cluster's training items, where the data has labels
        self.captions: list[str] = []  # of the cluster's training items, in the pixel-space data

    def prepare_data(self):
        if is_pixel_pool(self.data_cfg) and self.partition_cfg.method == "label_mod_k":
            path, pool = self.partition_cfg.path, pool_of(self.data_cfg)
            if not pool.labels or (next(iter(pool.labels.values())) < 0).any():
                raise HddmError(
                    f"partition={self.partition_cfg.name} groups items by label and not every item of "
                    f"data={self.data_cfg.name} has one: cluster it (python -m hddm.prepare) and use partition=file"
                )
            try:
                current = load_partition(path).data_hash == pool.data_hash
            except HddmError:
                current = False
            if not current:  # missing, unreadable or of other data: the deterministic rule rebuilds it from the digits
                save_partition(
                    path,
                    label_rule_partition(
                        next(iter(pool.labels.values())),
                        self.partition_cfg.num_clusters,
                        self.data_cfg.name,
                        self.data_cfg.split,
                        pool.data_hash,
                    ),
                )

    def partition(self) -> Partition:
        partition = load_partition(self.partition_cfg.path)
        if partition.num_clusters != self.partition_cfg.num_clusters:
            raise HddmError(
                f"{self.partition_cfg.path} has {partition.num_clusters} clusters, the config says "
                f"{self.partition_cfg.num_clusters}: set partition.num_clusters={partition.num_clusters}"
            )
        return partition

    def null_text(self):
        tokens, mask = prompt_embeddings([""], self.text_cfg, self.data_cfg.cache_dir)
        return tokens[0], mask[0]

    def setup(self, stage: str | None = None):
        if self.train_set is not None:
            return
        partition = self.partition()
        if self.cluster is None:
            members = np.arange(len(partition.assignment))
            if self.router_clusters is not None:
                members = members[np.isin(partition.assignment.numpy(), self.router_clusters)]
            clusters = partition.assignment[members]
        else:
            members, clusters = partition.indices(self.cluster), None
        if is_pixel_pool(self.data_cfg):
            dataset = self._pool_dataset(pool_of(self.data_cfg), partition, members, clusters)
        else:
            dataset = LatentShardDataset(self.data_cfg.shard_dir, members, self.data_cfg.scale_factor, clusters)
        # A fixed slice of the cluster is held out for validation loss; positions are into `dataset`.
        order = np.random.default_rng(self.seed).permutation(len(dataset))
        n_val = min(self.data_cfg.val_max_items, max(1, int(len(dataset) * self.data_cfg.val_fraction)))
        self.train_set, self.val_set = Subset(dataset, order[n_val:].tolist()), Subset(dataset, order[:n_val].tolist())
        if self.labels is not None:
            self.labels = self.labels[order[n_val:]]
        if self.captions:
            self.captions = [self.captions[i] for i in order[n_val:]]

    def _pool_dataset(
        self, pool: PixelPool, partition: Partition, members: np.ndarray, clusters
    ) -> CaptionTableDataset:
        if partition.data_hash != pool.data_hash or len(partition.assignment) != len(pool.images):
            raise HddmError(
                f"{self.partition_cfg.path} indexes other data than {self.data_cfg.name} {self.data_cfg.split}: "
                f"rebuild it with python -m hddm.prepare data={self.data_cfg.name}"
            )
        tokens, mask = prompt_embeddings(pool.prompts, self.text_cfg, self.data_cfg.cache_dir)
        self.labels = next(iter(pool.labels.values()))[members] if pool.labels else None
        self.captions = [pool.prompts[i] for i in pool.caption[members]]
        return CaptionTableDataset(
            torch.from_numpy(pool.images[members]), torch.from_numpy(pool.caption[members]), tokens, mask, clusters
        )

    def train_dataloader(self):
        trainer = self.trainer
        sampler = StepSeededSampler(
            len(self.train_set),
            self.data_cfg.batch_size,
            self.seed,
            start_step=trainer.global_step if trainer else 0,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )
        return DataLoader(
            self.train_set,
            batch_size=self.data_cfg.batch_size,
            sampler=sampler,
            num_workers=self.data_cfg.num_workers,
            persistent_workers=self.data_cfg.num_workers > 0,
        )

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.data_cfg.batch_size, num_workers=self.data_cfg.num_workers)
