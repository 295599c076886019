import pytest
import torch
import torch.nn.functional as F
from torch.func import jvp

from hddm.models.activations import gelu_tanh


def reference(x):
    return F.gelu(x, approximate="tanh")


def points(dtype=torch.float64):
    # the whole range, both tails included: large |x| is where the 1 + tanh and sigmoid forms could part
    return torch.cat(
        [
            torch.linspace(-30, 30, 2001, dtype=dtype),
            torch.randn(1000, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 3,
        ]
    )


def test_sampling_path_equals_tanh_gelu_in_float64():
    x = points()
    kept = x.clone()
    with torch.no_grad():
        torch.testing.assert_close(gelu_tanh(x), reference(x), rtol=1e-12, atol=1e-12)
    assert torch.equal(x, kept)  # the input is never written


def test_float32_error_is_float32_rounding():
    x = points(torch.float32)
    exact = reference(x.double())
    with torch.no_grad():
        ours = (gelu_tanh(x).double() - exact).abs().max()
    assert ours <= max((reference(x).double() - exact).abs().max(), 1e-6)


def test_training_path_keeps_atens_gradient():
    x = points().requires_grad_()
    (ours,) = torch.autograd.grad(gelu_tanh(x).sum(), x)
    (theirs,) = torch.autograd.grad(reference(x).sum(), x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_forward_mode_derivative(grad_enabled):
    """The analysis suite differentiates experts with torch.func JVPs (hddm/analysis/jacobian.py), also under
    no_grad."""
    x, tangent = points(), torch.randn(3001, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.set_grad_enabled(grad_enabled):
        torch.testing.assert_close(jvp(gelu_tanh, (x,), (tangent,))[1], jvp(reference, (x,), (tangent,))[1])
