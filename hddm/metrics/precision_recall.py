"""k-NN precision and recall (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
Generative Models"): each set's manifold is the union of balls around its points, each ball's radius the distance to
the point's k-th nearest neighbour within its own set. Precision: the share of generated samples inside the real
manifold (fidelity); recall: the share of real samples inside the generated manifold (coverage). A truncation-like
gain raises precision and lowers recall; a fidelity gain raises precision without costing recall.
"""

from __future__ import annotations

import torch

DEFAULT_K = 3  # the paper's choice


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row."""
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # the 1st is the point itself (distance 0)


def covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Boolean [len(points)]: inside at least one ball (centre, radius)."""
    return torch.cat([(torch.cdist(part, centres) <= radii[None]).any(1) for part in points.split(chunk)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = DEFAULT_K) -> dict[str, float]:
    """real, fake: float [N, D] features (float64 recommended)."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"k-NN precision/recall needs more than k={k} samples in each set")
    real, fake = real.double(), fake.double()
    precision = covered(fake, real, knn_radii(real, k)).double().mean().item()
    recall = covered(real, fake, knn_radii(fake, k)).double().mean().item()
    return {"precision": precision, "recall": recall}
