"""One expert's guided prediction at the shared state: conditional and unconditional passes in one batch,
combined by classifier-free guidance, as a velocity (for the ensemble's ODE) or as (x0_hat, eps_hat) (native DDIM)."""

from __future__ import annotations

import torch

from hddm.diffusion.conversion import Conversion, clean_and_noise, expert_velocity
from hddm.diffusion.guidance import doubled_batch, split_guided
from hddm.diffusion.objectives import Prediction
from hddm.diffusion.solvers import SOLVERS, ancestral, ddim
from hddm.ensemble.members import Expert
from hddm.errors import HddmError


def guided_velocity(expert: Expert, x, t, text, text_mask, cfg_scale: float, conversion: Conversion) -> torch.Tensor:
    b = x.shape[0]
    both_text = torch.cat([text, expert.null_text.expand(b, *expert.null_text.shape)])
    both_mask = torch.cat([text_mask, expert.null_mask.expand(b, *expert.null_mask.shape)])
    objective = expert.objective

    def network(x_in, t_in):  # back to x's dtype: under bf16 autocast the conversion still divides in fp32
        return expert.network(x_in, objective.model_time(t_in), both_text, both_mask).to(x_in.dtype)

    velocity = expert_velocity(network, doubled_batch(x), doubled_batch(t), objective, conversion)
    return split_guided(velocity, cfg_scale)


def guided_denoiser(expert: Expert, text, text_mask, cfg_scale: float, conversion: Conversion):
    """(x, t) -> (x0_hat, eps_hat) from the CFG-guided epsilon of an epsilon expert, on its own schedule."""
    if expert.objective.prediction is not Prediction.epsilon:
        raise HddmError(
            "solver=ddim|ancestral are the native samplers of DDPM (epsilon) experts: use euler or heun for this expert"
        )
    b = text.shape[0]
    both_text = torch.cat([text, expert.null_text.expand(b, *expert.null_text.shape)])
    both_mask = torch.cat([text_mask, expert.null_mask.expand(b, *expert.null_mask.shape)])

    def denoiser(x, t):
        both = expert.network(doubled_batch(x), expert.objective.model_time(doubled_batch(t)), both_text, both_mask)
        return clean_and_noise(split_guided(both, cfg_scale), x, t, expert.objective, conversion.safeguards)

    return denoiser


@torch.no_grad()
def sample_expert(
    expert: Expert,
    text,
    text_mask,
    noise,
    steps: int = 50,
    cfg_scale: float = 3.0,
    solver: str = "euler",
    conversion: Conversion = Conversion(),
    fresh_noise=None,
) -> torch.Tensor:
    """One expert alone, integrated from noise (t = 1) to data (t = 0): Euler/Heun on its velocity (converted
    for epsilon experts), or, for epsilon experts, their native DDIM or ancestral sampler (fresh_noise(step): the
    ancestral steps' noise)."""
    if solver == "ddim":
        return ddim(
            guided_denoiser(expert, text, text_mask, cfg_scale, conversion), noise, steps, expert.objective.schedule
        )
    if solver == "ancestral":
        denoiser = guided_denoiser(expert, text, text_mask, cfg_scale, conversion)
        return ancestral(denoiser, noise, steps, expert.objective.schedule, fresh_noise)

    def field(x, t):
        return guided_velocity(expert, x, t, text, text_mask, cfg_scale, conversion)

    return SOLVERS[solver](field, noise, steps)
