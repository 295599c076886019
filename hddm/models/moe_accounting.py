"""What an MoE DiT computes: capacity C_infer per forward and averaged, activated parameters (paper 003,
eqs. 8-9, 15 and 40), the capacity-predictor loss to add in training, and the inference mode switch."""

from __future__ import annotations

import torch
from torch import nn

from hddm.errors import HddmError
from hddm.models.moe import INFERENCE_MODES, DiffMoEFFN, MoEFFN, TokenChoiceFFN


def moe_layers(model: nn.Module) -> list[MoEFFN]:
    return [m for m in model.modules() if isinstance(m, MoEFFN)]


def capacity_of_last_forward(model: nn.Module) -> float | None:
    """C = 1/(L N) sum_l sum_i N K_i^l / (BS) = mean over layers of (tokens processed) / (tokens in); None if dense."""
    layers = [m for m in moe_layers(model) if m.last_counts is not None]
    if not layers:
        return None
    return sum(float(m.last_counts.sum()) / m.last_pool for m in layers) / len(layers)


def capacity_predictor_loss(model: nn.Module) -> torch.Tensor | None:
    """Mean BCE of the DiffMoE layers' predictors from the last training forward (their inputs are detached)."""
    losses = [m.cp_loss for m in moe_layers(model) if isinstance(m, DiffMoEFFN) and m.cp_loss is not None]
    return torch.stack(losses).mean() if losses else None


def load_balancing_loss(model: nn.Module) -> torch.Tensor | None:
    """Mean load-balancing loss of the token-choice layers from the last training forward."""
    losses = [m.balance_loss for m in moe_layers(model) if isinstance(m, TokenChoiceFFN) and m.training]
    return torch.stack(losses).mean() if losses else None


def set_moe_inference(model: nn.Module, mode: str = "dynamic", gamma: float = 0.5, capacity: float = 1.0):
    """How DiffMoE layers pick tokens in eval mode: learned thresholds, a fixed gamma, or a fixed per-sample top-K."""
    if mode not in INFERENCE_MODES:
        raise HddmError(f"unknown MoE inference mode {mode!r}: choose one of {list(INFERENCE_MODES)}")
    if not 0.0 <= gamma <= 1.0:
        raise HddmError(f"MoE threshold gamma must lie in [0, 1], not {gamma}")
    for layer in moe_layers(model):
        if isinstance(layer, DiffMoEFFN):
            layer.inference, layer.gamma, layer.capacity = mode, gamma, capacity


def ffn_parameters(model: nn.Module) -> int:
    """#FFN of eq. 40: every dense block FFN plus every expert FFN (gates and predictors count as 'other')."""
    dense = sum(
        p.numel() for block in model.blocks if not isinstance(block.mlp, MoEFFN) for p in block.mlp.parameters()
    )
    return dense + sum(p.numel() for m in moe_layers(model) for p in m.experts.parameters())


def activated_parameters(model: nn.Module, c_infer: float = 1.0) -> int:
    """Eq. 40: (1 + C)/(1 + N_E) #FFN + everything else; exact for the dense DiT (no MoE layer: all of it)."""
    layers = moe_layers(model)
    total = sum(p.numel() for p in model.parameters())
    if not layers:
        return total
    ffn, n = ffn_parameters(model), layers[0].num_experts
    return round((1 + c_infer) / (1 + n) * ffn + total - ffn)


class CapacityMeter:
    """Records C_infer after every forward of an MoE network (one entry per network evaluation)."""

    def __init__(self, network: nn.Module):
        self.network, self.per_step = network, []
        self.handle = network.register_forward_hook(self._hook) if moe_layers(network) else None

    def _hook(self, module, inputs, output):
        self.per_step.append(capacity_of_last_forward(module))

    def summary(self, per_step: bool = True) -> dict | None:
        if not self.per_step:
            return None
        average = sum(self.per_step) / len(self.per_step)
        summary = {
            "c_infer_avg": average,
            "activated_parameters": activated_parameters(self.network, average),
            "network_evaluations": len(self.per_step),
        }
        if per_step:
            summary["c_infer_per_step"] = [round(c, 4) for c in self.per_step]
        return summary
