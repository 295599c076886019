"""Where routing logits come from: the papers' trained router, or routing information each expert brings itself.

Every source answers logits(x, t, text, text_mask) -> [B, K] over the ensemble's experts (or None: no opinion
yet, the ensemble then weights all experts equally) and may observe each combined velocity the ensemble takes.
- TrainedRouterScores: one classifier trained with cross-entropy on every cluster's data (papers; centralized).
- DensityRatioScores: each expert's own head estimates log p_k(x_t) / p_ref(x_t) against a shared public reference;
  softmax over k of (head_k + log pi_k) is p(k | x_t), exact when every head is, with no shared training data.
- CentroidScores: the ensemble's current x0 estimate embedded in the shared clustering feature space, scored by
  the negative squared distance to each expert's nearest cluster centroid, refreshed every few evaluations.
- ChosenExpertScores: each sample's expert chosen before sampling (the oracle: the expert of the prompt's domain).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

from hddm.diffusion.objectives import broadcast_time
from hddm.diffusion.schedules import Schedule
from hddm.models.router import Router

# Routers and density-ratio heads learn on the state the ensemble integrates, whatever the experts' objectives: x_t on
# the Flow Matching path; their bundles record it, and the ensemble refuses another.
ROUTER_NOISING = "flow_matching_linear"


def router_noised(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (1 - broadcast_time(t, x0)) * x0 + broadcast_time(t, x0) * eps


class RoutingScores(ABC):
    @abstractmethod
    def logits(self, x, t, text, text_mask) -> torch.Tensor | None: ...

    def observe(self, x, t, velocity) -> None:
        """The combined velocity the ensemble took at (x, t); only sources that follow the trajectory need it."""

    def fresh(self) -> "RoutingScores":
        """The source for a new trajectory (each ensemble field takes one): itself unless it keeps state."""
        return self

    def to(self, device) -> "RoutingScores":
        return self


class TrainedRouterScores(RoutingScores):
    """clusters[k]: the router class expert k answers; time_scale: the router's t_model / t, from its bundle."""

    def __init__(self, router: Router, clusters: list[int], time_scale: float):
        self.router, self.clusters, self.time_scale = router, torch.tensor(clusters), time_scale

    def logits(self, x, t, text, text_mask):
        logits = self.router(x, self.time_scale * t, text, text_mask)
        return logits[:, self.clusters.to(logits.device)]  # the columns of the clusters this ensemble has

    def to(self, device):
        self.router.to(device)
        return self


class DensityRatioScores(RoutingScores):
    """heads[k](x_t, time_scale t[, text]) -> one logit, log p_k / p_ref; log_prior[k] = log pi_k (cluster shares)."""

    def __init__(self, heads: list[Router], log_prior: torch.Tensor, time_scale: float, text_aware: bool):
        self.heads, self.log_prior, self.time_scale, self.text_aware = heads, log_prior, time_scale, text_aware

    def logits(self, x, t, text, text_mask):
        text, text_mask = (text, text_mask) if self.text_aware else (None, None)
        ratios = torch.cat([head(x, self.time_scale * t, text, text_mask) for head in self.heads], -1)
        return ratios.float() + self.log_prior.to(ratios.device)

    def to(self, device):
        for head in self.heads:
            head.to(device)
        return self


def clean_estimate(x, t, velocity, path: Schedule) -> torch.Tensor:
    """x0 from the state and its velocity on the path x_t = a x0 + s eps: (s' x - s v) / (a s' - s a')."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    a, s = path.alpha(t).view(shape), path.sigma(t).view(shape)
    da, ds = path.d_alpha(t).view(shape), path.d_sigma(t).view(shape)
    return (ds * x - s * velocity) / (a * ds - s * da)


class CentroidScores(RoutingScores):
    """centroids[k]: [M_k, D] in the features space of `embed` (images in [0, 255] -> [B, D])."""

    def __init__(self, centroids: list[torch.Tensor], embed: Callable, path: Schedule, every: int):
        self.centroids, self.embed, self.path, self.every = centroids, embed, path, every
        self.evaluations, self.refreshed_at, self.scores, self.x0 = 0, 0, None, None

    def logits(self, x, t, text, text_mask):
        if self.x0 is None:
            return None
        if self.scores is None or self.evaluations - self.refreshed_at >= self.every:
            self.refreshed_at = self.evaluations
            features = self.embed((self.x0.clamp(-1, 1) + 1) * 127.5).float().cpu()
            self.scores = torch.stack(
                [-torch.cdist(features, c.float()).pow(2).min(-1).values for c in self.centroids], -1
            )
        return self.scores.to(x.device)

    def fresh(self):
        return CentroidScores(self.centroids, self.embed, self.path, self.every)

    def observe(self, x, t, velocity):
        self.x0 = clean_estimate(x, t, velocity, self.path)
        self.evaluations += 1


class ChosenExpertScores(RoutingScores):
    """Each sample's expert fixed before sampling (oracle routing): all its weight on that expert at every step."""

    REST = -1e4  # softmax gives the other experts exp(-1e4) = 0, with no inf to turn into NaN

    def __init__(self, chosen: torch.Tensor, num_experts: int):
        self.chosen, self.num_experts = chosen, num_experts

    def logits(self, x, t, text, text_mask):
        logits = torch.full((x.shape[0], self.num_experts), self.REST, device=x.device)
        return logits.scatter(1, self.chosen.to(x.device)[:, None], 0.0)
