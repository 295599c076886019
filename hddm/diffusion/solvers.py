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
