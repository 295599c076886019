"""Routing strategies: turn router logits (or the time alone) into per-sample expert weights [B, K].

Every strategy's weights are non-negative and sum to one per sample; an expert whose weight is zero for a
sample is not evaluated on it (sparse dispatch, see hddm.ensemble.field).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hddm.choices import ExpertOrder, RoutingStrategy, names
from hddm.diffusion.objectives import Prediction
from hddm.errors import HddmError

STRATEGIES = names(RoutingStrategy)
ROUTER_FREE = ("threshold", "random_topk")  # decided by time or at random, never by the router
ORDERS = names(ExpertOrder)


@dataclass(frozen=True)
class Routing:
    strategy: str = "topk"
    k: int = 2  # experts kept by topk (top1 is k = 1)
    temperature: float = 1.0  # softmax(logits / temperature)
    top_p: float | None = None  # keep the smallest set of experts whose probability reaches top_p
    tau: float = 0.5  # threshold: the first expert for t > tau, the second for t <= tau
    order: str = "fm_first"  # threshold: which objective integrates the high-noise part first
    seed: int = 0  # random_topk: the misaligned counterfactual, k experts drawn uniformly


ROUTING_FIELDS = tuple(Routing.__dataclass_fields__)  # the strategy's settings; the logits' source is chosen apart


def check_routing(routing: Routing, num_experts: int) -> None:
    if routing.strategy not in STRATEGIES:
        raise HddmError(
            f"unknown routing strategy {routing.strategy!r}: choose one of {list(STRATEGIES)} (routing=<name>)"
        )
    if routing.order not in ORDERS:
        raise HddmError(f"routing.order must be one of {list(ORDERS)}, not {routing.order!r}")
    if routing.temperature <= 0 or (routing.top_p is not None and not 0 < routing.top_p <= 1):
        raise HddmError("routing.temperature must be > 0 and routing.top_p in (0, 1]")
    if num_experts == 1:  # a lone expert (a monolithic baseline) takes every step, whatever the strategy says
        return
    if routing.strategy in ("topk", "random_topk") and not 1 <= routing.k <= num_experts:
        raise HddmError(f"routing.k={routing.k} but the ensemble has {num_experts} experts: use 1..{num_experts}")
    if routing.strategy == "threshold" and num_experts != 2:
        raise HddmError(f"threshold routing needs exactly 2 experts, the ensemble has {num_experts}: list two")


def top_k_weights(probs: torch.Tensor, k: int) -> torch.Tensor:
    values, indices = probs.topk(k, dim=-1)
    return torch.zeros_like(probs).scatter(-1, indices, values / values.sum(-1, keepdim=True))


def top_p_weights(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the experts ranked above each one
    kept = torch.where(before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
    return torch.zeros_like(probs).scatter(-1, order, kept / kept.sum(-1, keepdim=True))


def threshold_weights(t: torch.Tensor, predictions: list[Prediction], tau: float, order: str) -> torch.Tensor:
    """Deterministic by time: one expert above tau (high noise, integrated first), the other at or below."""
    first = 0
    if order != "listed":
        wanted = Prediction.velocity if order == "fm_first" else Prediction.epsilon
        if sorted(predictions) != sorted([Prediction.velocity, Prediction.epsilon]):
            raise HddmError(f"routing.order={order} needs one DDPM and one FM expert: use routing.order=listed")
        first = predictions.index(wanted)
    high_noise = (t > tau).to(t.dtype)
    weights = torch.zeros(t.shape[0], 2, dtype=t.dtype, device=t.device)
    weights[:, first], weights[:, 1 - first] = high_noise, 1 - high_noise
    return weights


def needs_router(strategy: str, num_experts: int) -> bool:
    """Whether routing reads the router's logits: not for the router-free strategies, nor for a lone expert."""
    return num_experts > 1 and strategy not in ROUTER_FREE


def routing_weights(
    logits: torch.Tensor | None,
    t: torch.Tensor,
    routing: Routing,
    predictions: list[Prediction],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    if len(predictions) == 1:  # a lone expert (a monolithic baseline) takes every step, whatever the strategy
        return torch.ones(t.shape[0], 1, dtype=t.dtype, device=t.device)
    if routing.strategy == "threshold":
        return threshold_weights(t, predictions, routing.tau, routing.order)
    if routing.strategy == "random_topk":
        scores = torch.rand(t.shape[0], len(predictions), generator=generator).to(t.device)
        return torch.zeros_like(scores).scatter(-1, scores.topk(routing.k, -1).indices, 1.0 / routing.k)
    probs = torch.softmax(logits.float() / routing.temperature, dim=-1)
    if routing.top_p is not None:
        probs = top_p_weights(probs, routing.top_p)
    if routing.strategy == "full":
        return probs
    return top_k_weights(probs, 1 if routing.strategy == "top1" else routing.k)
