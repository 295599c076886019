import pytest
import torch

from hddm.diffusion.objectives import Prediction
from hddm.errors import HddmError
from hddm.routing.strategies import Routing, check_routing, routing_weights, top_p_weights

V, E = Prediction.velocity, Prediction.epsilon
LOGITS = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 3.0, 2.9, 0.0]])
T = torch.tensor([0.9, 0.1])


@pytest.mark.parametrize("strategy,k,nonzero", [("top1", 1, 1), ("topk", 2, 2), ("topk", 3, 3), ("full", 2, 4)])
def test_weights_sum_to_one_with_the_right_support(strategy, k, nonzero):
    w = routing_weights(LOGITS, T, Routing(strategy=strategy, k=k), [V] * 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(2))
    assert ((w > 0).sum(-1) == nonzero).all()


def test_topk_keeps_the_most_probable_renormalised():
    w = routing_weights(LOGITS, T, Routing(strategy="topk", k=2), [V] * 4)
    probs = torch.softmax(LOGITS, -1)
    torch.testing.assert_close(w[0, :2], probs[0, :2] / probs[0, :2].sum())
    assert w[1, 1] > w[1, 2] > 0 and w[1, 0] == 0


def test_temperature_sharpens_and_flattens():
    cold = routing_weights(LOGITS, T, Routing(strategy="full", temperature=0.1), [V] * 4)
    hot = routing_weights(LOGITS, T, Routing(strategy="full", temperature=100.0), [V] * 4)
    assert cold[0, 0] > 0.99 and (hot - 0.25).abs().max() < 0.01


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    torch.testing.assert_close(top_p_weights(probs, 0.7), torch.tensor([[0.5, 0.3, 0.0, 0.0]]) / 0.8)
    torch.testing.assert_close(top_p_weights(probs, 0.4), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))


@pytest.mark.parametrize(
    "order,predictions,high,low",
    [("fm_first", [E, V], 1, 0), ("ddpm_first", [E, V], 0, 1), ("fm_first", [V, E], 0, 1), ("listed", [V, V], 0, 1)],
)
def test_threshold_picks_the_right_expert_on_each_side_of_tau(order, predictions, high, low):
    t = torch.tensor([0.31, 0.3, 0.29, 1.0, 0.0])
    w = routing_weights(None, t, Routing(strategy="threshold", tau=0.3, order=order), predictions)
    assert w[:, high].tolist() == [1, 0, 0, 1, 0] and w[:, low].tolist() == [0, 1, 1, 0, 1]


def test_random_topk_ignores_the_router():
    w = routing_weights(
        None, torch.rand(64), Routing(strategy="random_topk", k=2), [V] * 4, torch.Generator().manual_seed(0)
    )
    assert ((w > 0).sum(-1) == 2).all() and (w.sum(0) > 0).all()


def test_bad_routing_is_refused_in_one_line():
    with pytest.raises(HddmError, match="routing.k"):
        check_routing(Routing(strategy="topk", k=5), 4)
    with pytest.raises(HddmError, match="exactly 2"):
        check_routing(Routing(strategy="threshold"), 3)
    with pytest.raises(HddmError, match="routing=<name>"):
        check_routing(Routing(strategy="best"), 3)
    with pytest.raises(HddmError, match="one DDPM and one FM"):
        routing_weights(None, T, Routing(strategy="threshold", order="fm_first"), [V, V])
