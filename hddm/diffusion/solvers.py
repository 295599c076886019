"""Fixed-step ODE solvers integrating dx/dt = v(x, t) from t = 1 (noise) down to t = 0 (data)."""

from __future__ import annotations

from typing import Callable

import torch

VelocityField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [B, ...], t [B]) -> v


def time_grid(steps: int, device=None, dtype=torch.float32) -> torch.Tensor:
    return torch.linspace(1.0, 0.0, steps + 1, device=device, dtype=dtype)


def euler(field: VelocityField, x: torch.Tensor, steps: int) -> torch.Tensor:
    """x_{t - dt} = x_t - v(x_t, t) dt."""
    grid = time_grid(steps, x.device, x.dtype)
    for t, t_next in zip(grid[:-1], grid[1:]):
        x = x + (t_next - t) * field(x, t.expand(x.shape[0]))
    return x


def heun(field: VelocityField, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Second-order Heun (trapezoidal predictor-corrector); 2 field evaluations per step."""
    grid = time_grid(steps, x.device, x.dtype)
    for t, t_next in zip(grid[:-1], grid[1:]):
        dt = t_next - t
        v = field(x, t.expand(x.shape[0]))
        x_pred = x + dt * v
        v_next = field(x_pred, t_next.expand(x.shape[0]))
        x = x + dt * 0.5 * (v + v_next)
    return x


SOLVERS = {"euler": euler, "heun": heun}

Denoiser = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (x, t) -> (x0_hat, eps_hat)


def ddim(denoiser: Denoiser, x: torch.Tensor, steps: int, schedule) -> torch.Tensor:
    """The native sampler of an epsilon expert (deterministic DDIM, eta = 0) on its own schedule:
    x_s = alpha_s x0_hat + sigma_s eps_hat. It never forms a velocity, so it is the baseline the
    velocity-space conversion is compared against; exact in one step when the denoiser is exact."""
    grid = time_grid(steps, x.device, x.dtype)
    for t, t_next in zip(grid[:-1], grid[1:]):
        x0, eps = denoiser(x, t.expand(x.shape[0]))
        x = schedule.alpha(t_next) * x0 + schedule.sigma(t_next) * eps
    return x


NATIVE_SOLVERS = ("ddim", "ancestral")  # an epsilon expert's own samplers: (x0_hat, eps_hat), never a velocity


def ancestral(
    denoiser: Denoiser, x: torch.Tensor, steps: int, schedule, fresh_noise: Callable[[int], torch.Tensor]
) -> torch.Tensor:
    """Ancestral DDPM sampling on the expert's own schedule: x_s drawn from the Gaussian posterior q(x_s | x_t, x0_hat),
    with fresh_noise(step) [B, ...] as its noise. The stochastic native sampler, beside deterministic DDIM."""
    grid = time_grid(steps, x.device, x.dtype)
    for step, (t, s) in enumerate(zip(grid[:-1], grid[1:])):
        x0, _ = denoiser(x, t.expand(x.shape[0]))
        alpha_t, sigma_t, alpha_s, sigma_s = schedule.alpha(t), schedule.sigma(t), schedule.alpha(s), schedule.sigma(s)
        alpha_ts = alpha_t / alpha_s
        var_ts = sigma_t**2 - alpha_ts**2 * sigma_s**2  # the forward transition's variance from s to t
        x = (alpha_ts * sigma_s**2 / sigma_t**2) * x + (alpha_s * var_ts / sigma_t**2) * x0
        if s > 0:
            x = x + (var_ts * sigma_s**2 / sigma_t**2).clamp(min=0).sqrt() * fresh_noise(step)
    return x
