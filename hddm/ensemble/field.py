"""The combined field u_t = sum_k w_k v_k of a routed ensemble, with sparse dispatch.

Each expert runs only on the samples that selected it at that step (grouped per expert), never on all
samples under a mask. With offload=True experts wait in host memory and visit the device only for their
own dispatch, since K large experts do not fit on one accelerator together.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch

from hddm.diffusion.conversion import Conversion
from hddm.diffusion.objectives import broadcast_time
from hddm.ensemble.guidance import guided_velocity
from hddm.ensemble.members import Expert
from hddm.routing.scores import RoutingScores
from hddm.routing.strategies import Routing, check_routing, needs_router, routing_weights


class UsageStats:
    """Share of (sample, step) pairs each expert served, mean weight, mean routing entropy, time spent routing."""

    def __init__(self, num_experts: int):
        self.selected = torch.zeros(num_experts, dtype=torch.float64)
        self.weight = torch.zeros(num_experts, dtype=torch.float64)
        self.entropy, self.evaluations, self.pairs = 0.0, 0, 0
        self.routing_seconds = 0.0  # computing the routing logits (router, heads or centroids), not the experts

    def update(self, weights: torch.Tensor, probs: torch.Tensor | None):
        self.selected += (weights > 0).sum(0).double().cpu()
        self.weight += weights.sum(0).double().cpu()
        self.pairs += weights.shape[0]
        self.evaluations += int((weights > 0).sum())
        if probs is not None:
            self.entropy += float(-(probs * probs.clamp(min=1e-12).log()).sum(-1).sum())

    def summary(self, names: list[str]) -> dict:
        pairs = max(self.pairs, 1)
        return {
            "share_of_steps": {n: round(float(s) / pairs, 4) for n, s in zip(names, self.selected)},
            "mean_weight": {n: round(float(w) / pairs, 4) for n, w in zip(names, self.weight)},
            "routing_entropy_nats": round(self.entropy / pairs, 4),
            "expert_evaluations": self.evaluations,
            "routing_seconds": round(self.routing_seconds, 3),
        }


class EnsembleField:
    """field(x [B, ...], t [B]) -> u [B, ...]; `scores` gives the routing logits over the experts, in their order."""

    def __init__(
        self,
        experts: list[Expert],
        scores: RoutingScores | None,
        routing: Routing,
        conversion: Conversion,
        text,
        text_mask,
        cfg_scale: float,
        offload: bool = False,
        seed: int = 0,
        usage: UsageStats | None = None,
    ):
        check_routing(routing, len(experts))
        self.experts, self.routing, self.conversion = experts, routing, conversion
        self.scores = None if scores is None else scores.fresh()
        self.text, self.text_mask, self.cfg_scale, self.offload = text, text_mask, cfg_scale, offload
        self.predictions = [e.objective.prediction for e in experts]
        self.generator = torch.Generator().manual_seed(seed)
        self.usage = usage or UsageStats(len(experts))  # shared across batches when given

    def router_logits(self, x, t):
        if self.scores is None or not needs_router(self.routing.strategy, len(self.experts)):
            return None
        return self.scores.logits(x, t, self.text, self.text_mask)

    @contextmanager
    def on_device(self, expert: Expert, device):
        if not self.offload:
            yield
            return
        expert.network.to(device)
        try:
            yield
        finally:
            expert.network.to("cpu")

    def route(self, x, t):
        """(router logits over this ensemble's experts or None, routing weights [B, K]). A source with no opinion
        yet (centroid routing before its first x0 estimate) weights every expert equally."""
        logits = self.router_logits(x, t)
        if logits is None and self.scores is not None and needs_router(self.routing.strategy, len(self.experts)):
            return None, torch.full(
                (x.shape[0], len(self.experts)), 1.0 / len(self.experts), dtype=t.dtype, device=x.device
            )
        return logits, routing_weights(logits, t, self.routing, self.predictions, self.generator)

    def expert_velocity(self, k: int, x, t, rows=None):
        """Expert k's guided velocity on the samples `rows` (default all) whatever the routing: for analyses."""
        rows = slice(None) if rows is None else rows
        self.usage.evaluations += x[rows].shape[0]
        with self.on_device(self.experts[k], x.device):
            return guided_velocity(
                self.experts[k],
                x[rows],
                t[rows],
                self.text[rows],
                self.text_mask[rows],
                self.cfg_scale,
                self.conversion,
            )

    def all_velocities(self, x, t):
        """Every expert's guided velocity [K, B, ...], routed or not: for analyses."""
        return torch.stack([self.expert_velocity(k, x, t) for k in range(len(self.experts))])

    def __call__(self, x, t):
        started = time.perf_counter()
        logits, weights = self.route(x, t)
        self.usage.routing_seconds += time.perf_counter() - started
        probs = None if logits is None else torch.softmax(logits.float() / self.routing.temperature, -1)
        self.usage.update(weights, probs)
        combined = torch.zeros_like(x)
        for k, expert in enumerate(self.experts):
            rows = torch.nonzero(weights[:, k] > 0).flatten()
            if rows.numel() == 0:
                continue
            with self.on_device(expert, x.device):
                v = guided_velocity(
                    expert, x[rows], t[rows], self.text[rows], self.text_mask[rows], self.cfg_scale, self.conversion
                )
            combined[rows] += broadcast_time(weights[rows, k].to(x.dtype), v) * v
        if self.scores is not None:
            self.scores.observe(x, t, combined)
        return combined
