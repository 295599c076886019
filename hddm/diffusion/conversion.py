"""Turn an expert's prediction into the common velocity space v = d x_t / dt.

Two modes. `paper`: every expert sees the shared (x_t, t) and is converted with its own schedule,
x0_hat = (x_t - sigma_t eps) / alpha_safe, v = alpha_t' x0_hat + sigma_t' eps (the papers' closed form).
`snr_matched`: the expert sees x_t mapped onto its own path at the time t' of equal noise ratio,
sigma_E(t') / alpha_E(t') = sigma_P(t) / alpha_P(t), fed x_t alpha_E(t') / alpha_P(t); its prediction is
split into (x0_hat, eps_hat), which then give the velocity of the integration path P. It keeps every expert
on its training distribution. Each safeguard of the paper can be switched off for ablations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from hddm.diffusion.objectives import Objective, Prediction, broadcast_time
from hddm.diffusion.schedules import LinearSchedule, Schedule


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


@dataclass(frozen=True)
class Conversion:
    mode: str = "paper"  # paper | snr_matched
    path: Schedule = field(default_factory=LinearSchedule)  # the integration path of snr_matched
    safeguards: Safeguards = field(default_factory=Safeguards)


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


def clean_and_noise(prediction, x, t, objective: Objective, safeguards: Safeguards):
    """(x0_hat, eps_hat) implied by a prediction at (x, t) on the expert's own path."""
    tb = broadcast_time(t, x)
    schedule = objective.schedule
    alpha, sigma = schedule.alpha(tb), schedule.sigma(tb)
    if objective.prediction is Prediction.epsilon:
        if safeguards.alpha_min is not None:
            alpha = alpha.clamp(min=safeguards.alpha_min)
        eps, x0 = prediction, (x - sigma * prediction) / alpha
    else:  # solve x = a x0 + s eps, v = a' x0 + s' eps (the determinant a s' - a' s is never 0 on [0, 1])
        d_alpha, d_sigma = schedule_derivatives(schedule, tb, safeguards)
        det = alpha * d_sigma - d_alpha * sigma
        x0, eps = (d_sigma * x - sigma * prediction) / det, (alpha * prediction - d_alpha * x) / det
    if safeguards.x0_clamp is not None:
        x0 = x0.clamp(-safeguards.x0_clamp, safeguards.x0_clamp)
    return x0, eps


def path_velocity(x0, eps, t, schedule: Schedule, safeguards: Safeguards):
    tb = broadcast_time(t, x0)
    d_alpha, d_sigma = schedule_derivatives(schedule, tb, safeguards)
    velocity = d_alpha * x0 + d_sigma * eps
    return adaptive_scale(tb) * velocity if safeguards.adaptive_scaling else velocity


def velocity_from_epsilon(eps, x_t, t, schedule: Schedule, safeguards: Safeguards = Safeguards()):
    """The papers' conversion of an epsilon prediction, on the expert's own schedule."""
    objective = Objective(Prediction.epsilon, schedule)
    return path_velocity(*clean_and_noise(eps, x_t, t, objective, safeguards), t, schedule, safeguards)


def to_velocity(prediction, x_t, t, objective: Objective, safeguards: Safeguards = Safeguards()):
    """Paper mode: velocity experts pass through unchanged; epsilon experts are converted on their schedule."""
    if objective.prediction is Prediction.velocity:
        return prediction
    return velocity_from_epsilon(prediction, x_t, t, objective.schedule, safeguards)


def snr_matched_input(x_t, t, expert: Schedule, path: Schedule):
    """(x', t'): the shared state placed on the expert's own path at equal noise ratio."""
    alpha_p, sigma_p = path.alpha(t), path.sigma(t)
    t_expert = expert.time_at_noise_ratio(sigma_p, alpha_p)
    # alpha_E(t') / alpha_P(t) = sigma_E(t') / sigma_P(t); the sum form never divides 0 by 0 at t = 0 or 1.
    scale = (expert.alpha(t_expert) + expert.sigma(t_expert)) / (alpha_p + sigma_p)
    return x_t * broadcast_time(scale, x_t), t_expert


def expert_velocity(network: Callable, x_t, t, objective: Objective, conversion: Conversion = Conversion()):
    """Velocity of one expert at the shared state; network(x, t) returns its raw prediction at continuous t."""
    if conversion.mode == "paper":
        return to_velocity(network(x_t, t), x_t, t, objective, conversion.safeguards)
    safeguards = conversion.safeguards
    if objective.prediction is Prediction.velocity:  # s(t) damps converted epsilon predictions only
        safeguards = replace(safeguards, adaptive_scaling=False)
    x_expert, t_expert = snr_matched_input(x_t, t, objective.schedule, conversion.path)
    x0, eps = clean_and_noise(network(x_expert, t_expert), x_expert, t_expert, objective, safeguards)
    return path_velocity(x0, eps, t, conversion.path, safeguards)
