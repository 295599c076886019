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
