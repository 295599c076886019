"""Instrumented Euler sampling: the same integration as hddm.diffusion.solvers.euler, with a probe that sees every
step's state and may return the velocity it computed (so measuring costs no extra field evaluation) and a record."""

from __future__ import annotations

from typing import Callable

import torch

from hddm.diffusion.solvers import euler, time_grid

# probe(step index, x [B, ...], t [B]) -> (velocity [B, ...], record or None)
Probe = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, object]]


@torch.no_grad()
def probed_euler(probe: Probe, x: torch.Tensor, steps: int) -> tuple[torch.Tensor, list]:
    grid = time_grid(steps, x.device, x.dtype)
    records = []
    for n, (t, t_next) in enumerate(zip(grid[:-1], grid[1:])):
        velocity, record = probe(n, x, t.expand(x.shape[0]))
        records.append(record)
        x = x + (t_next - t) * velocity
    return x, records


@torch.no_grad()
def sample_batches(
    field_of_rows: Callable[[slice], Callable], noise: torch.Tensor, steps: int, batch_size: int
) -> torch.Tensor:
    """Plain Euler sampling of every row of noise, in batches (field_of_rows(rows) builds the rows' field)."""
    out = [
        euler(field_of_rows(slice(s, s + batch_size)), noise[s : s + batch_size], steps)
        for s in range(0, len(noise), batch_size)
    ]
    return torch.cat(out)


def nearest_steps(steps: int, times: list[float]) -> dict[int, float]:
    """The Euler step index whose start time is nearest each requested t."""
    grid = time_grid(steps)[:-1]
    return {int((grid - t).abs().argmin()): float(grid[int((grid - t).abs().argmin())]) for t in times}
