"""Jacobian spectral norms of velocity fields without forming the Jacobian, and the decomposition of a routed
field's Jacobian, J u = sum_k w_k J v_k + sum_k v_k grad w_k, into its expert and router terms.

Samples of a batch never interact in these fields, so the batched Jacobian is block-diagonal and one power
iteration on J^T J (a JVP then a VJP, torch.func) runs every sample's iteration at once.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp, vjp
from torch.nn.attention import SDPBackend, sdpa_kernel

Field = Callable[[torch.Tensor], torch.Tensor]  # x [B, ...] -> v [B, ...]


def _norms(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (x.dim() - 1)))


def spectral_norm(field: Field, x: torch.Tensor, iterations: int = 10, seed: int = 0) -> torch.Tensor:
    """Per-sample ||J_x field(x)||_2 [B] by power iteration on J^T J, started from a seeded random direction."""
    u = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
    u = u / _norms(u)
    with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention kernels have no forward-mode derivative
        _, pullback = vjp(field, x)  # the linearisation at x is reused by every iteration
        for _ in range(iterations):
            (jtju,) = pullback(jvp(field, (x,), (u,))[1])
            u = jtju / _norms(jtju).clamp(min=1e-30)
        return _norms(jvp(field, (x,), (u,))[1]).flatten()


def combine(weights: torch.Tensor, velocities: torch.Tensor) -> torch.Tensor:
    """sum_k w[:, k] v[k]: weights [B, K], velocities [K, B, ...] -> [B, ...]."""
    return torch.einsum("bk,kb...->b...", weights.to(velocities.dtype), velocities)


def routed_terms(weights_of: Field, velocities_of: Field, x: torch.Tensor) -> dict[str, Field]:
    """The routed field and its two Jacobian terms as fields of x: 'full' u(x) = sum_k w_k(x) v_k(x); 'expert'
    varies v_k with w frozen at x; 'router' varies w with v frozen at x. By the product rule the Jacobians of the
    two terms sum to the full Jacobian at x."""
    w0, v0 = weights_of(x).detach(), velocities_of(x).detach()
    return {
        "full": lambda y: combine(weights_of(y), velocities_of(y)),
        "expert": lambda y: combine(w0, velocities_of(y)),
        "router": lambda y: combine(weights_of(y), v0),
    }
