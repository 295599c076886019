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
