"""The guided velocity of one expert at the shared state: conditional and unconditional passes in one
batch, each converted to velocity, then combined by classifier-free guidance in velocity space."""

from __future__ import annotations

import torch

from hddm.bundles import Expert
from hddm.diffusion.conversion import Conversion, expert_velocity
from hddm.diffusion.guidance import doubled_batch, split_guided
from hddm.diffusion.solvers import SOLVERS


def guided_velocity(expert: Expert, x, t, text, text_mask, cfg_scale: float, conversion: Conversion) -> torch.Tensor:
    b = x.shape[0]
    both_text = torch.cat([text, expert.null_text.expand(b, *expert.null_text.shape)])
    both_mask = torch.cat([text_mask, expert.null_mask.expand(b, *expert.null_mask.shape)])
    objective = expert.objective

    def network(x_in, t_in):
        return expert.network(x_in, objective.model_time(t_in), both_text, both_mask)

    velocity = expert_velocity(network, doubled_batch(x), doubled_batch(t), objective, conversion)
    return split_guided(velocity, cfg_scale)


@torch.no_grad()
def sample_expert(expert: Expert, text, text_mask, noise, steps: int = 50, cfg_scale: float = 3.0,
                  solver: str = "euler", conversion: Conversion = Conversion()) -> torch.Tensor:
    """One expert alone, integrated from noise (t = 1) to data (t = 0)."""
    def field(x, t):
        return guided_velocity(expert, x, t, text, text_mask, cfg_scale, conversion)

    return SOLVERS[solver](field, noise, steps)
