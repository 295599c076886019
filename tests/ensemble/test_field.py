import torch
from torch import nn

from hddm.diffusion.conversion import Conversion
from hddm.diffusion.objectives import make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.ensemble.field import EnsembleField
from hddm.ensemble.members import Expert
from hddm.routing.scores import RoutingScores, TrainedRouterScores
from hddm.routing.strategies import Routing


class ConstantNet(nn.Module):
    """Predicts a constant per expert and records the batch sizes it was called with."""

    def __init__(self, value):
        super().__init__()
        self.value, self.calls = value, []

    def forward(self, x, t_model, text, mask):
        self.calls.append(x.shape[0])
        return torch.full_like(x, self.value)


class FixedScores(RoutingScores):
    def __init__(self, logits):
        self.fixed = logits

    def logits(self, x, t, text, text_mask):
        return self.fixed[: x.shape[0]]


def experts(values):
    objective = make_objective("velocity", get_schedule("linear"))
    return [
        Expert(ConstantNet(v), objective, torch.zeros(2, 3), torch.ones(2, dtype=torch.bool), {"cluster": k})
        for k, v in enumerate(values)
    ]


def field(members, logits, routing):
    b = logits.shape[0]
    return EnsembleField(
        members,
        FixedScores(logits),
        routing,
        Conversion(),
        torch.zeros(b, 2, 3),
        torch.ones(b, 2, dtype=torch.bool),
        cfg_scale=1.0,
    )


def test_sparse_dispatch_runs_each_expert_only_on_its_samples():
    members = experts([1.0, 2.0, 3.0, 4.0])
    logits = torch.tensor([[9.0, 8.0, 0.0, 0.0], [0.0, 9.0, 8.0, 0.0], [0.0, 0.0, 0.0, 9.0]])
    u = field(members, logits, Routing(strategy="top1"))(torch.zeros(3, 1, 2, 2), torch.full((3,), 0.5))
    assert [m.network.calls for m in members] == [[2], [2], [], [2]]  # cond + uncond of one sample each
    assert u[:, 0, 0, 0].tolist() == [1.0, 2.0, 4.0]


def test_combined_field_is_the_weighted_sum():
    members = experts([1.0, 2.0, 3.0])
    logits = torch.tensor([[1.0, 0.5, -1.0]])
    f = field(members, logits, Routing(strategy="full"))
    u = f(torch.zeros(1, 1, 2, 2), torch.full((1,), 0.5))
    probs = torch.softmax(logits, -1)[0]
    torch.testing.assert_close(u[0, 0, 0, 0], (probs * torch.tensor([1.0, 2.0, 3.0])).sum())
    summary = f.usage.summary(["a", "b", "c"])
    assert summary["share_of_steps"] == {"a": 1.0, "b": 1.0, "c": 1.0} and summary["expert_evaluations"] == 3
    assert summary["routing_entropy_nats"] > 0


class FixedRouter(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits, self.times = logits, []

    def forward(self, x, t_model, text=None, mask=None):
        self.times.append(t_model)
        return self.logits[: x.shape[0]]


def test_trained_router_scores_take_its_columns_for_the_experts_clusters_at_its_time_scale():
    members = experts([1.0, 2.0])
    router = FixedRouter(torch.tensor([[0.0, 1.0, 0.0, 9.0]]))  # cluster 3 is the router's favourite
    scores = TrainedRouterScores(router, [3, 1], time_scale=500.0)
    f = EnsembleField(
        members,
        scores,
        Routing(strategy="top1"),
        Conversion(),
        torch.zeros(1, 2, 3),
        torch.ones(1, 2, dtype=torch.bool),
        cfg_scale=1.0,
    )
    u = f(torch.zeros(1, 1, 2, 2), torch.full((1,), 0.5))
    assert u[0, 0, 0, 0] == 1.0 and router.times[0].item() == 250.0


class NoOpinion(RoutingScores):
    def logits(self, x, t, text, text_mask):
        return None


def test_a_source_without_an_opinion_weights_every_expert_equally():
    members = experts([1.0, 2.0, 6.0])
    f = EnsembleField(
        members,
        NoOpinion(),
        Routing(strategy="topk", k=2),
        Conversion(),
        torch.zeros(2, 2, 3),
        torch.ones(2, 2, dtype=torch.bool),
        cfg_scale=1.0,
    )
    u = f(torch.zeros(2, 1, 2, 2), torch.full((2,), 1.0))
    assert torch.allclose(u, torch.full_like(u, 3.0)) and [m.network.calls for m in members] == [[4], [4], [4]]


def test_a_lone_expert_takes_every_step_without_a_router():
    (member,) = experts([2.0])
    f = EnsembleField(
        [member],
        None,
        Routing(strategy="top1"),
        Conversion(),
        torch.zeros(3, 2, 3),
        torch.ones(3, 2, dtype=torch.bool),
        cfg_scale=1.0,
    )
    u = f(torch.zeros(3, 1, 2, 2), torch.full((3,), 0.5))
    assert member.network.calls == [6] and torch.equal(u, torch.full_like(u, 2.0))  # cond + uncond of all three


def test_the_order_of_the_listed_experts_does_not_change_the_field():
    values, logits = [1.0, 2.0, 5.0], torch.tensor([[0.3, 1.2, -0.4], [2.0, -1.0, 0.1]])
    order = [2, 0, 1]
    x, t = torch.zeros(2, 1, 2, 2), torch.full((2,), 0.5)
    for routing in (Routing(strategy="full"), Routing(strategy="topk", k=2), Routing(strategy="top1")):
        listed = field(experts(values), logits, routing)(x, t)
        shuffled = field(experts([values[k] for k in order]), logits[:, order], routing)(x, t)
        torch.testing.assert_close(shuffled, listed)
