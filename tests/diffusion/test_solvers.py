"""Analytic ODE dx/dt = x: from x(1) the exact solution at 0 is x(1) / e."""

import math

import pytest
import torch

from hddm.diffusion.solvers import euler, heun


def field(x, t):
    return x


@pytest.mark.parametrize("solver,order", [(euler, 1), (heun, 2)])
def test_convergence_order(solver, order):
    x1 = torch.ones(1, dtype=torch.float64)
    errors = [abs(float(solver(field, x1, n)) - math.exp(-1)) for n in (20, 40, 80)]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(abs(rate - order) < 0.15 for rate in rates), rates


def test_time_runs_from_one_to_zero():
    seen = []
    euler(lambda x, t: seen.append(float(t[0])) or torch.zeros_like(x), torch.zeros(2, 1), 4)
    assert seen == [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize("steps", [1, 7])
def test_ddim_with_an_exact_denoiser_lands_on_the_data(steps):
    """Data = one point c: the exact epsilon is (x - alpha c) / sigma, so DDIM is exact at any step count,
    where Euler on the converted velocity field is only first-order accurate."""
    from hddm.diffusion.conversion import NO_SAFEGUARDS, velocity_from_epsilon
    from hddm.diffusion.schedules import CosineSchedule
    from hddm.diffusion.solvers import ddim

    schedule, c = CosineSchedule(), torch.tensor([[0.7, -1.3]], dtype=torch.float64)

    def exact_eps(x, t):
        tb = t[:, None]
        return (x - schedule.alpha(tb) * c) / schedule.sigma(tb).clamp(min=1e-12)

    def denoiser(x, t):
        return c.expand_as(x), exact_eps(x, t)

    noise = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ddim(denoiser, noise, steps, schedule), c.expand(4, 2))
    velocity = lambda x, t: velocity_from_epsilon(exact_eps(x, t), x, t[:, None], schedule, NO_SAFEGUARDS)  # noqa: E731
    assert (euler(velocity, noise, 7) - c).abs().max() > 1e-6


def test_ancestral_sampling_with_the_exact_denoiser_draws_the_data_distribution():
    """Data N(0, c^2) per coordinate: the exact x0_hat is the posterior mean alpha c^2 x / (alpha^2 c^2 + sigma^2).
    Ancestral sampling then draws N(0, c^2) up to the posterior variance it leaves out, which vanishes as steps grow;
    DDIM on the same denoiser is deterministic, ancestral sampling is not."""
    from hddm.diffusion.schedules import CosineSchedule
    from hddm.diffusion.solvers import ancestral

    schedule, c = CosineSchedule(), 0.5
    generator = torch.Generator().manual_seed(0)

    def denoiser(x, t):
        alpha, sigma = schedule.alpha(t)[:, None], schedule.sigma(t)[:, None]
        x0 = alpha * c**2 * x / (alpha**2 * c**2 + sigma**2)
        return x0, (x - alpha * x0) / sigma.clamp(min=1e-12)

    def fresh(step):
        return torch.randn(20000, 4, dtype=torch.float64, generator=generator)

    noise = torch.randn(20000, 4, dtype=torch.float64, generator=generator)
    samples = ancestral(denoiser, noise, 200, schedule, fresh)
    assert abs(float(samples.std()) - c) < 0.01 and abs(float(samples.mean())) < 0.01
    assert not torch.allclose(samples, ancestral(denoiser, noise, 200, schedule, fresh))  # fresh noise each run
