"""Two-stage (hierarchical) k-means as in the paper: `fine_k` groups first, then their centroids into K.

Cosine distance throughout (metric="cosine"): features are L2-normalised before fitting and every centroid
is normalised after it, and "nearest" means the largest cosine similarity (spherical k-means assignment).
scikit-learn fits each level (KMeans, or MiniBatchKMeans on large data) with a fixed seed, so the same
features give the same clusters. Each fine group maps to the one coarse centroid nearest to its own
centroid; each item is assigned to its nearest coarse centroid, as the paper assigns images.

Pure numpy / scikit-learn: no Lightning, Hydra or files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from hddm.choices import ClusterAlgorithm, FeatureMetric, names
from hddm.errors import HddmError

METRICS = names(FeatureMetric)
ALGORITHMS = names(ClusterAlgorithm)
MINIBATCH_ABOVE = 200_000  # items: "auto" switches to MiniBatchKMeans beyond this


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def prepare(x: np.ndarray, metric: str) -> np.ndarray:
    """What the metric compares: unit vectors for cosine, the raw features for euclidean."""
    return normalize_rows(x) if metric == "cosine" else np.asarray(x, dtype=np.float32)


def nearest(x: np.ndarray, centroids: np.ndarray, metric: str, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centroid per row (largest cosine, or smallest squared L2), in chunks."""
    x, centroids = prepare(x, metric), np.asarray(centroids, dtype=np.float32)
    out = np.empty(len(x), dtype=np.int64)
    half_norms = 0.5 * (centroids**2).sum(1)
    for start in range(0, len(x), chunk):
        scores = x[start : start + chunk] @ centroids.T  # cosine: centroids are unit vectors
        if metric == "euclidean":
            scores -= half_norms  # argmin |x - c|^2 = argmax (x.c - |c|^2 / 2)
        out[start : start + chunk] = scores.argmax(1)
    return out


@dataclass
class HierarchicalKMeans:
    fine_centroids: np.ndarray  # float32 [F, D] (unit rows for cosine)
    coarse_centroids: np.ndarray  # float32 [K, D]
    fine_to_coarse: np.ndarray  # int64 [F]: each fine group's one coarse cluster
    metric: str

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Coarse cluster of each item: its nearest coarse centroid."""
        return nearest(x, self.coarse_centroids, self.metric)

    def assign_fine(self, x: np.ndarray) -> np.ndarray:
        return nearest(x, self.fine_centroids, self.metric)

    def relabeled(self, order: np.ndarray) -> "HierarchicalKMeans":
        """The same clustering with coarse cluster order[i] renamed to i."""
        rename = np.empty_like(order)
        rename[order] = np.arange(len(order))
        return HierarchicalKMeans(
            self.fine_centroids, self.coarse_centroids[order], rename[self.fine_to_coarse], self.metric
        )


def kmeans(x: np.ndarray, k: int, seed: int, algorithm: str, max_iter: int, n_init: int) -> np.ndarray:
    """Centroids [k, D] of a seeded scikit-learn k-means fit."""
    if algorithm == "auto":
        algorithm = "minibatch" if len(x) > MINIBATCH_ABOVE else "kmeans"
    if algorithm == "kmeans":
        model = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed)
    else:
        model = MiniBatchKMeans(
            n_clusters=k,
            n_init=n_init,
            max_iter=max_iter,
            random_state=seed,
            batch_size=max(4096, 4 * k),
            reassignment_ratio=0.0,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer distinct groups, still valid
        return model.fit(x).cluster_centers_.astype(np.float32)


def fit_hierarchical_kmeans(
    x: np.ndarray,
    k: int,
    fine_k: int = 1024,
    metric: str = "cosine",
    seed: int = 0,
    algorithm: str = "auto",
    max_iter: int = 100,
) -> HierarchicalKMeans:
    """Fine level: min(fine_k, N) groups of the items. Coarse level: k groups of the fine centroids."""
    if metric not in METRICS:
        raise HddmError(f"unknown cluster.metric {metric!r}: choose one of {list(METRICS)}")
    if algorithm not in ALGORITHMS:
        raise HddmError(f"unknown cluster.algorithm {algorithm!r}: choose one of {list(ALGORITHMS)}")
    points = prepare(x, metric)
    fine_k = min(fine_k, len(points))
    if not 1 <= k <= fine_k:
        raise HddmError(
            f"cluster.k={k} needs 1 <= k <= the number of fine groups ({fine_k}): lower cluster.k or raise "
            "cluster.fine_k"
        )
    fine = kmeans(points, fine_k, seed, algorithm, max_iter, n_init=1)
    fine = normalize_rows(fine) if metric == "cosine" else fine
    coarse = kmeans(fine, k, seed, "kmeans", max_iter=300, n_init=10)  # F points only: cheap, so restart 10x
    coarse = normalize_rows(coarse) if metric == "cosine" else coarse
    return HierarchicalKMeans(fine, coarse, nearest(fine, coarse, metric), metric)


def order_by_size(assignment: np.ndarray, k: int) -> np.ndarray:
    """Cluster ids from largest to smallest (stable): makes cluster 0 the biggest, whatever k-means' order."""
    return np.argsort(-np.bincount(assignment, minlength=k), kind="stable")
