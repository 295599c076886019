"""The clustering feature space at sampling time: embed states with the extractor the partition was built with
(the project's digit CNN on MNIST) and rank the experts' cluster centroids by distance."""

from __future__ import annotations

import torch

from hddm.data.features import ColourQuantiles
from hddm.data.partition import load_partition
from hddm.errors import HddmError
from hddm.io import sha256_file
from hddm.metrics.fid import to_uint8
from hddm.models.digit_cnn import cached_digit_cnn


def expert_centroids(partition_path: str, experts: list, metric: str) -> torch.Tensor:
    """The coarse centroid of each expert's training cluster [K, D], checked against the experts' partition hash."""
    wanted = experts[0].manifest["partition"]["sha256"]
    if sha256_file(partition_path) != wanted:
        raise HddmError(
            f"{partition_path} is not the partition the experts were trained on (sha256 {wanted[:12]}...): "
            "set analysis.partition_path to that assignment file"
        )
    centroids = load_partition(partition_path).centroids.get("coarse_centroids")
    if centroids is None:
        raise HddmError(
            f"{partition_path} holds no coarse centroids (a label-rule partition): cluster_rank needs a k-means "
            "partition"
        )
    rows = centroids[[e.manifest["cluster"] for e in experts]].float()
    return torch.nn.functional.normalize(rows, dim=1) if metric == "cosine" else rows


class ClusterEmbedder:
    """images in [-1, 1] -> the partition's clustering features (unit rows for a cosine partition): the digit CNN's
    128-d penultimate layer on MNIST, the 30 colour quantiles on styled digits."""

    def __init__(self, cache_dir: str, data: dict, metric: str):
        if data["space"] != "pixel" or data["name"] not in ("mnist", "styled_digits"):
            raise HddmError(
                "cluster embeddings at sampling time are implemented for pixel-space MNIST and styled-digits "
                "ensembles; latent ensembles need a VAE decoder and DINOv2 here"
            )
        self.metric = metric
        if data["name"] == "styled_digits":
            quantiles = ColourQuantiles()
            self.extract = lambda images: quantiles(to_uint8(images.cpu()))
            self.name = quantiles.extractor_id
        else:
            model, manifest = cached_digit_cnn(cache_dir)
            self.extract = lambda images: model.features(images.clamp(-1, 1).float().cpu())
            self.name = f"mnist-cnn penultimate (128-d, sha256 {manifest['sha256'][:12]})"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        features = self.extract(images)
        return torch.nn.functional.normalize(features, dim=1) if self.metric == "cosine" else features


def centroid_ranks(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """rank[b, k] of centroid k by Euclidean distance from features[b] (1 = closest)."""
    order = torch.cdist(features.double(), centroids.double()).argsort(dim=1)
    return order.argsort(dim=1) + 1


def selected_rank(ranks: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """The best (minimum) rank among each sample's selected experts [B]; selected is a bool mask [B, K]."""
    return torch.where(selected, ranks, torch.full_like(ranks, ranks.shape[1] + 1)).min(dim=1).values
