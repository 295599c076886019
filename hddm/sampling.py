"""Sampling one expert: its prediction, converted to velocity, guided, integrated from noise to data."""

from __future__ import annotations

import torch

from hddm.diffusion.conversion import Safeguards, to_velocity
from hddm.diffusion.guidance import doubled_batch, split_guided
from hddm.diffusion.objectives import Objective
from hddm.diffusion.solvers import SOLVERS


def expert_field(network, objective: Objective, text, text_mask, null_text, null_mask, cfg_scale: float, safeguards: Safeguards):
    """The guided velocity field of one expert; network(x, t_model, text, mask) is its raw backbone."""
    b = text.shape[0]
    both_text = torch.cat([text, null_text.expand(b, *null_text.shape)])
    both_mask = torch.cat([text_mask, null_mask.expand(b, *null_mask.shape)])

    def field(x, t):
        x2, t2 = doubled_batch(x), doubled_batch(t)
        prediction = network(x2, objective.model_time(t2), both_text, both_mask)
        return split_guided(to_velocity(prediction, x2, t2, objective, safeguards), cfg_scale)

    return field


@torch.no_grad()
def sample_expert(
    network, objective: Objective, text, text_mask, null_text, null_mask, noise: torch.Tensor,
    steps: int = 50, cfg_scale: float = 3.0, solver: str = "euler", safeguards: Safeguards = Safeguards(),
) -> torch.Tensor:
    field = expert_field(network, objective, text, text_mask, null_text, null_mask, cfg_scale, safeguards)
    return SOLVERS[solver](field, noise, steps)
