"""Power iteration against exact spectral norms, and the expert + router decomposition of a routed Jacobian."""

import torch
from torch.func import jvp

from hddm.analysis.jacobian import combine, routed_terms, spectral_norm
from hddm.diffusion.objectives import Prediction
from hddm.routing.strategies import Routing, routing_weights


def test_power_iteration_matches_exact_spectral_norm_of_linear_fields():
    torch.manual_seed(0)
    matrices = torch.randn(3, 12, 12, dtype=torch.float64)  # a different linear field per sample

    def field(x):
        return torch.einsum("bij,bj->bi", matrices, x.flatten(1)).reshape(x.shape)

    x = torch.randn(3, 3, 2, 2, dtype=torch.float64)
    estimate = spectral_norm(field, x, iterations=300)
    torch.testing.assert_close(estimate, torch.linalg.matrix_norm(matrices, ord=2), rtol=1e-6, atol=0)


def toy_router_and_experts(routing: Routing):
    torch.manual_seed(1)
    router, experts = torch.randn(6, 4, dtype=torch.float64), torch.randn(4, 6, 6, dtype=torch.float64)
    t = torch.full((5,), 0.5, dtype=torch.float64)

    def weights_of(y):
        return routing_weights(torch.tanh(y) @ router, t, routing, [Prediction.velocity] * 4)

    def velocities_of(y):
        return torch.stack([torch.sin(y @ w) for w in experts])

    return weights_of, velocities_of


def test_expert_and_router_terms_sum_to_the_full_jacobian():
    for routing in (Routing("full"), Routing("topk", k=2), Routing("full", temperature=0.5)):
        weights_of, velocities_of = toy_router_and_experts(routing)
        x = torch.randn(5, 6, dtype=torch.float64)
        terms = routed_terms(weights_of, velocities_of, x)
        dense = torch.stack(
            [torch.autograd.functional.jacobian(lambda y: terms["full"](y)[i], x)[:, i] for i in range(5)]
        )
        for _ in range(3):
            u = torch.randn_like(x)
            full, expert, router = (jvp(terms[name], (x,), (u,))[1] for name in ("full", "expert", "router"))
            torch.testing.assert_close(full, expert + router)
            torch.testing.assert_close(full, torch.einsum("bij,bj->bi", dense, u), rtol=1e-5, atol=1e-6)
        assert jvp(terms["router"], (x,), (u,))[1].abs().max() > 1e-3  # the router term is not trivially zero


def test_combine_weights_experts_per_sample():
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    velocities = torch.stack([torch.ones(2, 3), torch.full((2, 3), 5.0)])
    torch.testing.assert_close(combine(weights, velocities), torch.tensor([[1.0] * 3, [4.0] * 3]))
