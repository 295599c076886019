"""Oracle predictors on Gaussian data whose posterior is exact: point-mass data x0 = mu (variance 0)."""

import pytest
import torch

from hddm.diffusion.conversion import NO_SAFEGUARDS, Safeguards, to_velocity, velocity_from_epsilon
from hddm.diffusion.objectives import Prediction, make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.errors import HddmError


def point_mass_batch(n=256, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(1, dim, dtype=torch.float64, generator=g)
    eps = torch.randn(n, dim, dtype=torch.float64, generator=g)
    t = torch.rand(n, dtype=torch.float64, generator=g) * 0.98 + 0.01
    return mu, mu.expand(n, dim), eps, t


@pytest.mark.parametrize(
    "prediction,schedule",
    [("epsilon", "cosine"), ("velocity", "linear"), ("epsilon", "linear"), ("velocity", "cosine")],
)
def test_oracle_from_x_t_alone_has_zero_loss(prediction, schedule):
    objective = make_objective(prediction, get_schedule(schedule))
    mu, x0, eps, t = point_mass_batch()
    x_t = objective.noisy_sample(x0, eps, t)
    s = objective.schedule
    a, sg, da, ds = (f(t)[:, None] for f in (s.alpha, s.sigma, s.d_alpha, s.d_sigma))
    eps_hat = (x_t - a * mu) / sg  # the exact E[eps | x_t] when the data is the point mu
    oracle = eps_hat if objective.prediction is Prediction.epsilon else da * mu + ds * eps_hat
    assert objective.loss(oracle, x0, eps, t).max() < 1e-20


def test_flow_matching_target_is_eps_minus_x0():
    objective = make_objective("velocity", get_schedule("linear"))
    _, x0, eps, t = point_mass_batch()
    torch.testing.assert_close(objective.target(x0, eps, t), eps - x0)


def test_model_time_is_999_t():
    objective = make_objective("epsilon", get_schedule("cosine"))
    torch.testing.assert_close(objective.model_time(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([0.0, 499.5, 999.0]))


def test_unknown_prediction_names_the_fix():
    with pytest.raises(HddmError, match="objective=ddpm"):
        make_objective("score", get_schedule("cosine"))


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_converted_exact_epsilon_is_the_true_velocity(schedule):
    """Float64 round trip: eps -> x0_hat -> v equals d x_t / dt of the path, safeguards off."""
    s = get_schedule(schedule)
    mu, x0, eps, t = point_mass_batch()
    x_t = s.alpha(t)[:, None] * x0 + s.sigma(t)[:, None] * eps
    true_velocity = s.d_alpha(t)[:, None] * x0 + s.d_sigma(t)[:, None] * eps
    torch.testing.assert_close(
        velocity_from_epsilon(eps, x_t, t, s, NO_SAFEGUARDS), true_velocity, rtol=1e-10, atol=1e-10
    )
    finite_difference = Safeguards(alpha_min=None, x0_clamp=None, finite_difference=True)
    torch.testing.assert_close(
        velocity_from_epsilon(eps, x_t, t, s, finite_difference), true_velocity, rtol=1e-6, atol=1e-6
    )


def test_safeguards_keep_conversion_finite_at_t_one():
    s = get_schedule("cosine")
    x_t, eps, t = torch.randn(4, 3), torch.randn(4, 3), torch.ones(4)
    v = velocity_from_epsilon(eps, x_t, t, s, Safeguards(alpha_min=0.01, x0_clamp=5.0, adaptive_scaling=True))
    assert torch.isfinite(v).all()


def test_velocity_experts_pass_through():
    objective = make_objective("velocity", get_schedule("linear"))
    v = torch.randn(3, 5)
    assert to_velocity(v, torch.randn(3, 5), torch.rand(3), objective) is v
