"""Sparse upcycling: a dense init becomes every expert of a token-choice MoE DiT, which then computes the dense
function (exactly with a zero gate; within 0.5 % on average with the small random gate every run starts from)."""

from dataclasses import replace

import pytest
import torch

from hddm.errors import HddmError
from hddm.inits import apply_init
from hddm.models.dit import DIT_SIZES, DiT


def outputs(model: DiT) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 28, 28, generator=generator)
    text = torch.randn(4, 16, 384, generator=generator)
    with torch.no_grad():
        return model.eval()(x, torch.tensor([0.0, 250.0, 600.0, 999.0]), text)


def upcycled(num_experts: int) -> DiT:
    model = DiT(replace(DIT_SIZES["tiny"], moe="tc", num_experts=num_experts), 3, 28, 384)
    apply_init(model, "base")
    return model


@pytest.fixture(scope="module")
def dense_output() -> torch.Tensor:
    model = DiT(DIT_SIZES["tiny"], 3, 28, 384)
    apply_init(model, "base")
    return outputs(model)


def test_upcycled_model_computes_the_dense_function(dense_output):
    model = upcycled(8)
    scale = dense_output.abs().mean()
    deviation = (outputs(model) - dense_output).abs()
    assert deviation.mean() / scale < 0.005 and deviation.max() / scale < 0.05
    for module in model.modules():
        if hasattr(module, "experts"):
            torch.nn.init.zeros_(module.gate.weight)
    torch.testing.assert_close(outputs(model), dense_output, rtol=1e-4, atol=1e-4 * scale.item())


def test_every_expert_gets_tokens_from_the_first_step():
    model = upcycled(8)
    outputs(model)
    counts = [module.last_counts for module in model.modules() if hasattr(module, "experts")]
    assert counts and all((c > 0).all() for c in counts)


def test_expert_choice_layers_are_not_upcycled():
    model = DiT(replace(DIT_SIZES["tiny"], moe="diffmoe", num_experts=8), 3, 28, 384)
    with pytest.raises(HddmError, match="model.moe=tc") as error:
        apply_init(model, "base")
    assert "\n" not in str(error.value)
