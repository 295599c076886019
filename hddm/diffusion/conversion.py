"""Turn an expert's prediction into the common velocity space v = d x_t / dt (the papers' closed form).

For an epsilon prediction: x0_hat = (x_t - sigma_t eps) / alpha_safe, then v = alpha_t' x0_hat + sigma_t' eps,
i.e. the time derivative of the path alpha_t x0_hat + sigma_t eps with x0_hat and eps held fixed.
Each safeguard of the paper can be switched off for ablations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hddm.diffusion.objectives import Objective, Prediction, broadcast_time
from hddm.diffusion.schedules import Schedule


@dataclass(frozen=True)
class Safeguards:
    """alpha_min: alpha_safe = max(alpha_t, alpha_min) (None: off). x0_clamp: |x0_hat| bound ([-5, 5] pixels,
    [-20, 20] latents; None: off). adaptive_scaling: the paper's s(t) damping at high noise.
    finite_difference: alpha', sigma' by central differences with step h, for schedules known only as functions."""

    alpha_min: float | None = 0.01
    x0_clamp: float | None = 5.0
    adaptive_scaling: bool = False
    finite_difference: bool = False
    fd_step: float = 1e-4


NO_SAFEGUARDS = Safeguards(alpha_min=None, x0_clamp=None, adaptive_scaling=False)


def adaptive_scale(t: torch.Tensor) -> torch.Tensor:
    """The paper's s(t): 0.88 for t > 0.85, 0.93 for 0.6 < t <= 0.85, 0.96 for t <= 0.6."""
    return torch.where(t > 0.85, 0.88, torch.where(t > 0.6, 0.93, 0.96)).to(t.dtype)


def schedule_derivatives(schedule: Schedule, t: torch.Tensor, safeguards: Safeguards):
    if not safeguards.finite_difference:
        return schedule.d_alpha(t), schedule.d_sigma(t)
    h = safeguards.fd_step
    lo, hi = (t - h).clamp(min=0.0), (t + h).clamp(max=1.0)  # one-sided at the ends of [0, 1]
    width = hi - lo
    return (schedule.alpha(hi) - schedule.alpha(lo)) / width, (schedule.sigma(hi) - schedule.sigma(lo)) / width


def velocity_from_epsilon(
    eps: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule: Schedule, safeguards: Safeguards = Safeguards()
) -> torch.Tensor:
    tb = broadcast_time(t, x_t)
    alpha, sigma = schedule.alpha(tb), schedule.sigma(tb)
    if safeguards.alpha_min is not None:
        alpha = alpha.clamp(min=safeguards.alpha_min)
    x0_hat = (x_t - sigma * eps) / alpha
    if safeguards.x0_clamp is not None:
        x0_hat = x0_hat.clamp(-safeguards.x0_clamp, safeguards.x0_clamp)
    d_alpha, d_sigma = schedule_derivatives(schedule, tb, safeguards)
    velocity = d_alpha * x0_hat + d_sigma * eps
    if safeguards.adaptive_scaling:
        velocity = adaptive_scale(tb) * velocity
    return velocity


def to_velocity(
    prediction: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, objective: Objective,
    safeguards: Safeguards = Safeguards(),
) -> torch.Tensor:
    """Velocity experts pass through unchanged; epsilon experts are converted with their own schedule."""
    if objective.prediction is Prediction.VELOCITY:
        return prediction
    return velocity_from_epsilon(prediction, x_t, t, objective.schedule, safeguards)
