"""ExpertDataModule: the items of one cluster, with their caption embeddings, at either scale."""

from __future__ import annotations

from functools import lru_cache, partial

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from hddm.config import DataConfig, PartitionConfig, TextConfig
from hddm.data import mnist
from hddm.data.datasets import CaptionTableDataset, LatentShardDataset
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


def mnist_pool(cache_dir: str, split: str):
    """Images and labels of the embedded pool: 'trainval' joins the 50k train and 10k val images (60k)."""
    parts = [mnist.load_split(cache_dir, s) for s in (("train", "val") if split == "trainval" else (split,))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class ExpertDataModule(L.LightningDataModule):
    """The items of one cluster (an expert), or of all clusters labelled by cluster id (cluster=None: the router)."""

    def __init__(self, data: DataConfig, partition: PartitionConfig, text: TextConfig, cluster: int | None, seed: int):
        super().__init__()
        self.data_cfg, self.partition_cfg, self.text_cfg = data, partition, text
        self.cluster, self.seed = cluster, seed
        self.train_set = self.val_set = None
        self.labels: np.ndarray | None = None  # of the cluster's training items, where the data has labels

    def prepare_data(self):
        if self.data_cfg.name == "mnist":
            images, labels = mnist_pool(self.data_cfg.cache_dir, self.data_cfg.split)
            path = self.partition_cfg.path
            if self.partition_cfg.method == "label_mod_k":
                try:
                    load_partition(path)
                except HddmError:  # missing or unreadable: the deterministic rule rebuilds it
                    save_partition(path, label_rule_partition(
                        labels, self.partition_cfg.num_clusters, "mnist", self.data_cfg.split, mnist.split_hash(images)))

    def partition(self) -> Partition:
        partition = load_partition(self.partition_cfg.path)
        if partition.num_clusters != self.partition_cfg.num_clusters:
            raise HddmError(
                f"{self.partition_cfg.path} has {partition.num_clusters} clusters, the config says "
                f"{self.partition_cfg.num_clusters}: set partition.num_clusters={partition.num_clusters}")
        return partition

    def null_text(self):
        tokens, mask = prompt_embeddings([""], self.text_cfg, self.data_cfg.cache_dir)
        return tokens[0], mask[0]

    def setup(self, stage: str | None = None):
        if self.train_set is not None:
            return
        partition = self.partition()
        if self.cluster is None:
            members, clusters = np.arange(len(partition.assignment)), partition.assignment
        else:
            members, clusters = partition.indices(self.cluster), None
        if self.data_cfg.name == "mnist":
            dataset = self._mnist_dataset(partition, members, clusters)
        else:
            dataset = LatentShardDataset(self.data_cfg.shard_dir, members, self.data_cfg.scale_factor, clusters)
        # A fixed slice of the cluster is held out for validation loss; positions are into `dataset`.
        order = np.random.default_rng(self.seed).permutation(len(dataset))
        n_val = min(self.data_cfg.val_max_items, max(1, int(len(dataset) * self.data_cfg.val_fraction)))
        self.train_set, self.val_set = Subset(dataset, order[n_val:].tolist()), Subset(dataset, order[:n_val].tolist())
        if self.labels is not None:
            self.labels = self.labels[order[n_val:]]

    def _mnist_dataset(self, partition: Partition, members: np.ndarray, clusters) -> CaptionTableDataset:
        images, labels = mnist_pool(self.data_cfg.cache_dir, self.data_cfg.split)
        if partition.data_hash != mnist.split_hash(images) or len(partition.assignment) != len(images):
            raise HddmError(f"{self.partition_cfg.path} indexes other data than MNIST {self.data_cfg.split}: rebuild it with hddm.prepare")
        prompts = [p for digit in range(10) for p in mnist.digit_prompts(digit)]
        per_digit = len(prompts) // 10
        tokens, mask = prompt_embeddings(prompts, self.text_cfg, self.data_cfg.cache_dir)
        caption = torch.from_numpy(labels[members] * per_digit + members % per_digit)
        self.labels = labels[members]
        return CaptionTableDataset(torch.from_numpy(images[members])[:, None], caption, tokens, mask, clusters)

    def train_dataloader(self):
        trainer = self.trainer
        sampler = StepSeededSampler(
            len(self.train_set), self.data_cfg.batch_size, self.seed, start_step=trainer.global_step if trainer else 0,
            rank=trainer.global_rank if trainer else 0, world_size=trainer.world_size if trainer else 1)
        return DataLoader(self.train_set, batch_size=self.data_cfg.batch_size, sampler=sampler,
                          num_workers=self.data_cfg.num_workers, persistent_workers=self.data_cfg.num_workers > 0)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.data_cfg.batch_size, num_workers=self.data_cfg.num_workers)
