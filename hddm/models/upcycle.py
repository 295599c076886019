"""Sparse upcycling (Komatsuzaki et al., 2023) of a dense DiT checkpoint into a token-choice MoE DiT.

Every expert of an MoE layer starts as a copy of the dense FFN it replaces. Token choice (top-1) weights the chosen
expert by its gate probability, which is 1/N while the gate is near zero, so each copy's output projection is scaled
by N: the upcycled model computes the dense model's function, up to the small random gate that lets tokens pick
different experts from the first step (GATE_STD; the deviation is measured in tests/models/test_upcycle.py). Only
token choice preserves the function: expert-choice layers (DiffMoE, EC) drop some tokens and repeat others.
"""

from __future__ import annotations

import torch

from hddm.models.dit import DiT

GATE_STD = 3e-4  # outputs within 0.2 % of the dense ones on average (2 % at most), and every expert gets tokens


def upcycle_state(dense: dict[str, torch.Tensor], model: DiT) -> dict[str, torch.Tensor]:
    """`model`'s state dict (token-choice MoE: the caller checks) whose MoE layers hold copies of `dense`'s FFN."""
    state = dict(dense)
    generator = torch.Generator().manual_seed(0)
    for name, module in model.named_modules():
        if not hasattr(module, "experts"):
            continue
        n = module.num_experts
        fc1_w, fc1_b = state.pop(f"{name}.fc1.weight").float(), state.pop(f"{name}.fc1.bias").float()
        fc2_w, fc2_b = state.pop(f"{name}.fc2.weight").float(), state.pop(f"{name}.fc2.bias").float()
        state[f"{name}.experts.w1"] = fc1_w.t().expand(n, -1, -1).clone()
        state[f"{name}.experts.b1"] = fc1_b.expand(n, -1).clone()
        state[f"{name}.experts.w2"] = (n * fc2_w.t()).expand(n, -1, -1).clone()
        state[f"{name}.experts.b2"] = (n * fc2_b).expand(n, -1).clone()
        state[f"{name}.gate.weight"] = GATE_STD * torch.randn(module.gate.weight.shape, generator=generator)
    return state
