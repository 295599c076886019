import math

import pytest
import torch

from hddm.diffusion.schedules import CosineSchedule, LinearSchedule, get_schedule
from hddm.errors import HddmError

T = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)


def test_cosine_closed_form():
    s = CosineSchedule()
    torch.testing.assert_close(s.alpha(T), torch.cos(math.pi * T / 2))
    torch.testing.assert_close(s.sigma(T), torch.sin(math.pi * T / 2))
    torch.testing.assert_close(s.d_alpha(T), -math.pi / 2 * torch.sin(math.pi * T / 2))
    torch.testing.assert_close(s.d_sigma(T), math.pi / 2 * torch.cos(math.pi * T / 2))
    torch.testing.assert_close(s.alpha(T) ** 2 + s.sigma(T) ** 2, torch.ones_like(T))  # variance preserving


def test_linear_closed_form():
    s = LinearSchedule()
    torch.testing.assert_close(s.alpha(T), 1 - T)
    torch.testing.assert_close(s.sigma(T), T)
    torch.testing.assert_close(s.d_alpha(T), -torch.ones_like(T))
    torch.testing.assert_close(s.d_sigma(T), torch.ones_like(T))


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_derivatives_match_float64_finite_differences(name):
    s, h = get_schedule(name), 1e-6
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    torch.testing.assert_close(s.d_alpha(t), (s.alpha(t + h) - s.alpha(t - h)) / (2 * h), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(s.d_sigma(t), (s.sigma(t + h) - s.sigma(t - h)) / (2 * h), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_endpoints_are_data_and_noise(name):
    s = get_schedule(name)
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(s.alpha(ends), torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(s.sigma(ends), torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-12, rtol=0)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(HddmError, match="cosine"):
        get_schedule("sigmoid")
