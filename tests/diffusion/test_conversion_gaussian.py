"""Float64: Gaussian data x0 ~ N(mu, s^2 I), where every path's exact predictors are known in closed form.

On a path (alpha, sigma): x_t ~ N(alpha mu, (alpha^2 s^2 + sigma^2) I), and
E[eps | x_t] = sigma (x_t - alpha mu) / (alpha^2 s^2 + sigma^2), E[x0 | x_t] = mu + alpha s^2 (x_t - alpha mu) / (...).
"""

import pytest
import torch

from hddm.diffusion.conversion import NO_SAFEGUARDS, Conversion, Safeguards, expert_velocity, snr_matched_input
from hddm.diffusion.objectives import Objective, Prediction
from hddm.diffusion.schedules import CosineSchedule, LinearSchedule, Schedule

MU, S = 0.7, 0.5
GRID = torch.linspace(0.0, 0.995, 200, dtype=torch.float64)


class QuadraticSchedule(Schedule):
    """alpha = 1 - t^2, sigma = t: a path with no closed-form noise-ratio inverse (exercises bisection)."""

    name = "quadratic"

    def alpha(self, t):
        return 1 - t**2

    def sigma(self, t):
        return t

    def d_alpha(self, t):
        return -2 * t

    def d_sigma(self, t):
        return torch.ones_like(t)


def posterior(x, t, schedule):
    a, s = schedule.alpha(t)[:, None], schedule.sigma(t)[:, None]
    var = a**2 * S**2 + s**2
    return MU + a * S**2 * (x - a * MU) / var, s * (x - a * MU) / var  # E[x0 | x], E[eps | x]


def exact_network(prediction, schedule):
    """The Bayes-optimal predictor of an expert trained on `schedule` (takes continuous t)."""

    def network(x, t):
        x0, eps = posterior(x, t, schedule)
        return (
            eps
            if prediction is Prediction.epsilon
            else schedule.d_alpha(t)[:, None] * x0 + schedule.d_sigma(t)[:, None] * eps
        )

    return network


def exact_velocity(x, t, path):
    x0, eps = posterior(x, t, path)
    return path.d_alpha(t)[:, None] * x0 + path.d_sigma(t)[:, None] * eps


def states(path):
    g = torch.Generator().manual_seed(0)
    x0 = MU + S * torch.randn(len(GRID), 6, dtype=torch.float64, generator=g)
    eps = torch.randn(len(GRID), 6, dtype=torch.float64, generator=g)
    return path.alpha(GRID)[:, None] * x0 + path.sigma(GRID)[:, None] * eps


@pytest.mark.parametrize("expert_schedule", [CosineSchedule(), LinearSchedule(), QuadraticSchedule()])
@pytest.mark.parametrize("prediction", [Prediction.epsilon, Prediction.velocity])
def test_snr_matched_gives_the_true_path_velocity(expert_schedule, prediction):
    path = LinearSchedule()
    x = states(path)
    objective = Objective(prediction, expert_schedule)
    conversion = Conversion("snr_matched", path, NO_SAFEGUARDS)
    v = expert_velocity(exact_network(prediction, expert_schedule), x, GRID, objective, conversion)
    torch.testing.assert_close(v, exact_velocity(x, GRID, path), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("schedule", [CosineSchedule(), LinearSchedule()])
@pytest.mark.parametrize("prediction", [Prediction.epsilon, Prediction.velocity])
def test_paper_mode_is_exact_where_expert_and_path_agree(schedule, prediction):
    x = states(schedule)
    objective = Objective(prediction, schedule)
    v = expert_velocity(
        exact_network(prediction, schedule), x, GRID, objective, Conversion("paper", schedule, NO_SAFEGUARDS)
    )
    torch.testing.assert_close(v, exact_velocity(x, GRID, schedule), rtol=1e-7, atol=1e-7)


def test_paper_mode_differs_from_the_true_velocity_across_paths():
    """A cosine expert converted on its own schedule is not the linear path's velocity: why snr_matched exists."""
    x = states(LinearSchedule())
    objective = Objective(Prediction.epsilon, CosineSchedule())
    v = expert_velocity(
        exact_network(Prediction.epsilon, CosineSchedule()),
        x,
        GRID,
        objective,
        Conversion("paper", LinearSchedule(), NO_SAFEGUARDS),
    )
    assert (v - exact_velocity(x, GRID, LinearSchedule())).abs().max() > 0.1


@pytest.mark.parametrize("mode", ["paper", "snr_matched"])
def test_finite_on_all_of_unit_interval_with_safeguards(mode):
    t = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    x = torch.randn(101, 6, dtype=torch.float64)
    objective = Objective(Prediction.epsilon, CosineSchedule())
    conversion = Conversion(mode, LinearSchedule(), Safeguards(alpha_min=0.01, x0_clamp=5.0, adaptive_scaling=True))
    assert torch.isfinite(
        expert_velocity(exact_network(Prediction.epsilon, CosineSchedule()), x, t, objective, conversion)
    ).all()


def test_matched_time_has_equal_noise_ratio():
    expert, path = CosineSchedule(), LinearSchedule()
    x_expert, t_expert = snr_matched_input(torch.ones(len(GRID), 1, dtype=torch.float64), GRID, expert, path)
    torch.testing.assert_close(expert.sigma(t_expert) * path.alpha(GRID), expert.alpha(t_expert) * path.sigma(GRID))
    bisected = QuadraticSchedule().time_at_noise_ratio(path.sigma(GRID), path.alpha(GRID))
    torch.testing.assert_close(
        QuadraticSchedule().sigma(bisected) * path.alpha(GRID), QuadraticSchedule().alpha(bisected) * path.sigma(GRID)
    )
