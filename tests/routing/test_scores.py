"""Routing sources: density-ratio heads give the Bayes posterior when each head is exact; centroid routing follows
the trajectory's x0 estimate; a source without an opinion yet makes the ensemble weight every expert equally."""

import math

import pytest
import torch
from torch import nn

from hddm.diffusion.schedules import get_schedule
from hddm.routing.scores import CentroidScores, DensityRatioScores, clean_estimate


class ExactLogRatio(nn.Module):
    """log N(x; mean, 1) - log N(x; 0, 1), summed over pixels: the ideal head for a Gaussian cluster vs reference."""

    def __init__(self, mean: float):
        super().__init__()
        self.mean = mean

    def forward(self, x, t_model, text=None, mask=None):
        flat = x.flatten(1)
        return (-0.5 * (flat - self.mean) ** 2 + 0.5 * flat**2).sum(-1, keepdim=True)


def test_density_ratio_logits_are_the_bayes_posterior_whatever_the_number_of_experts():
    torch.manual_seed(0)
    means, sizes = [-1.0, 0.5, 2.0], torch.tensor([100.0, 300.0, 600.0], dtype=torch.float64)
    x = torch.randn(64, 1, 2, 2, dtype=torch.float64) * 2
    scores = DensityRatioScores([ExactLogRatio(m) for m in means], (sizes / sizes.sum()).log(), 999.0, text_aware=False)
    posterior = torch.softmax(scores.logits(x, torch.full((64,), 0.3), None, None).double(), -1)
    joint = torch.stack(
        [(sizes[k] / sizes.sum()).log() - 0.5 * ((x.flatten(1) - m) ** 2).sum(-1) for k, m in enumerate(means)], -1
    )
    assert torch.allclose(posterior, torch.softmax(joint, -1), atol=1e-6)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_clean_estimate_inverts_the_path_in_float64(name):
    path = get_schedule(name)
    g = torch.Generator().manual_seed(1)
    x0, eps = (
        torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64),
        torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64),
    )
    t = torch.tensor([0.01, 0.2, 0.5, 0.8, 0.97], dtype=torch.float64)
    shape = (-1, 1, 1, 1)
    x_t = path.alpha(t).view(shape) * x0 + path.sigma(t).view(shape) * eps
    velocity = path.d_alpha(t).view(shape) * x0 + path.d_sigma(t).view(shape) * eps
    assert torch.allclose(clean_estimate(x_t, t, velocity, path), x0, atol=1e-10)


def constant_colour(value: float, n: int = 2) -> torch.Tensor:
    return torch.full((n, 3, 4, 4), value)


def mean_colour(images):  # a feature space: the image's mean intensity in [0, 255]
    return images.flatten(1).mean(-1, keepdim=True)


def test_centroid_scores_follow_the_x0_estimate_and_refresh_every_m_evaluations():
    centroids = [torch.tensor([[0.0]]), torch.tensor([[255.0]])]
    scores = CentroidScores(centroids, mean_colour, get_schedule("linear"), every=2)
    t = torch.zeros(2)
    assert scores.logits(constant_colour(0.0), t, None, None) is None  # no x0 estimate before the first step
    scores.observe(constant_colour(-1.0), t, torch.zeros(2, 3, 4, 4))  # at t = 0 the estimate is x itself: black
    first = scores.logits(constant_colour(0.0), t, None, None)
    assert (first.argmax(-1) == 0).all()
    scores.observe(constant_colour(1.0), t, torch.zeros(2, 3, 4, 4))  # second evaluation: kept (every=2)
    assert torch.equal(scores.logits(constant_colour(0.0), t, None, None), first)
    scores.observe(constant_colour(1.0), t, torch.zeros(2, 3, 4, 4))  # third: refreshed, now white
    assert (scores.logits(constant_colour(0.0), t, None, None).argmax(-1) == 1).all()
    fresh = scores.fresh()
    assert fresh.logits(constant_colour(0.0), t, None, None) is None and math.isclose(fresh.every, 2)


def test_adding_a_bundle_is_order_independent():
    """Listing the experts in another order permutes their scores and changes nothing else."""
    torch.manual_seed(2)
    means, sizes = [-1.0, 0.5, 2.0], torch.tensor([100.0, 300.0, 600.0])
    x, t = torch.randn(16, 1, 2, 2), torch.full((16,), 0.4)
    order = [2, 0, 1]
    listed = DensityRatioScores([ExactLogRatio(m) for m in means], (sizes / sizes.sum()).log(), 999.0, False)
    shuffled_sizes = sizes[order]
    shuffled = DensityRatioScores(
        [ExactLogRatio(means[k]) for k in order], (shuffled_sizes / shuffled_sizes.sum()).log(), 999.0, False
    )
    assert torch.allclose(shuffled.logits(x, t, None, None), listed.logits(x, t, None, None)[:, order])
    centroids = [torch.tensor([[float(k)]]) for k in range(3)]
    path = get_schedule("linear")
    by_list = CentroidScores(centroids, mean_colour, path, 1)
    by_shuffle = CentroidScores([centroids[k] for k in order], mean_colour, path, 1)
    for scores in (by_list, by_shuffle):
        scores.observe(constant_colour(-1.0), torch.zeros(2), torch.zeros(2, 3, 4, 4))
    zeros = torch.zeros(2)
    assert torch.equal(
        by_shuffle.logits(constant_colour(0.0), zeros, None, None),
        by_list.logits(constant_colour(0.0), zeros, None, None)[:, order],
    )


class QuadraticHead(nn.Module):
    """A head that can represent any 1-D Gaussian log-ratio: a + b x + c x^2."""

    def __init__(self):
        super().__init__()
        self.coef = nn.Parameter(torch.zeros(3, dtype=torch.float64))

    def forward(self, x, t_model=None, text=None, mask=None):
        flat = x.flatten(1)[:, :1]
        return self.coef[0] + self.coef[1] * flat + self.coef[2] * flat**2


def test_heads_trained_own_vs_reference_recover_the_posterior_of_a_gaussian_mixture():
    """Each head fit alone with the balanced logistic loss of hddm.lit.density_head (own samples vs the shared
    reference N(0, 1)) estimates log p_k / p_ref; with log pi_k added they give the mixture's posterior (float64)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(3)
    means, sizes = [-1.5, 0.5, 2.0], torch.tensor([200.0, 300.0, 500.0], dtype=torch.float64)
    heads = []
    for mean in means:
        own = mean + torch.randn(20000, 1, 1, 1, generator=g, dtype=torch.float64)
        reference = torch.randn(20000, 1, 1, 1, generator=g, dtype=torch.float64) * 1.5  # covers every cluster
        x, labels = torch.cat([own, reference]), torch.cat([torch.ones(20000), torch.zeros(20000)]).double()
        head = QuadraticHead()
        optimizer = torch.optim.LBFGS(head.parameters(), max_iter=200, line_search_fn="strong_wolfe")

        def loss():
            optimizer.zero_grad()
            value = F.binary_cross_entropy_with_logits(head(x).squeeze(-1), labels)
            value.backward()
            return value

        optimizer.step(loss)
        heads.append(head.requires_grad_(False))
    scores = DensityRatioScores(heads, (sizes / sizes.sum()).log(), 999.0, text_aware=False)
    x = torch.linspace(-3, 3.5, 50, dtype=torch.float64).view(-1, 1, 1, 1)
    posterior = torch.softmax(scores.logits(x, torch.zeros(50), None, None).double(), -1)
    joint = torch.stack(
        [(sizes[k] / sizes.sum()).log() - 0.5 * (x.flatten() - m) ** 2 for k, m in enumerate(means)], -1
    )
    error = (posterior - torch.softmax(joint, -1)).abs().max()
    assert error < 0.02
