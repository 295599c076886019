"""Per-sample vector geometry: norms, angles and pairwise distances of flattened states or velocities."""

from __future__ import annotations

import torch


def flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between a[i] and b[i] in degrees [B]; the half-angle atan2 form is exactly 0 for identical vectors,
    where arccos of a rounded cosine is not."""
    ua, ub = flat(a).double(), flat(b).double()
    ua, ub = ua / ua.norm(dim=1, keepdim=True), ub / ub.norm(dim=1, keepdim=True)
    return torch.rad2deg(2 * torch.atan2((ua - ub).norm(dim=1), (ua + ub).norm(dim=1)))


def mean_pairwise_distance(velocities: torch.Tensor) -> torch.Tensor:
    """D(x_t) = mean over expert pairs i < j of ||v_i - v_j||_2, per sample; velocities [K, B, ...] -> [B]."""
    v = velocities.reshape(velocities.shape[0], velocities.shape[1], -1).transpose(0, 1)  # [B, K, D]
    distances = torch.cdist(v.double(), v.double())
    k = v.shape[1]
    upper = torch.triu_indices(k, k, offset=1)
    return distances[:, upper[0], upper[1]].mean(1)
