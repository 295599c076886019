"""Angles, pairwise disagreement and cluster ranks."""

import torch

from hddm.analysis.embedding import centroid_ranks, selected_rank
from hddm.analysis.geometry import angle_degrees, mean_pairwise_distance


def test_angle_of_a_vector_with_itself_is_zero():
    v = torch.randn(4, 1, 28, 28)
    assert torch.equal(angle_degrees(v, v), torch.zeros(4, dtype=torch.float64))
    assert angle_degrees(v, 3 * v).max() < 1e-5  # float32 rounding of 3 v only
    torch.testing.assert_close(angle_degrees(v, -v), torch.full((4,), 180.0, dtype=torch.float64))
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(angle_degrees(a, b), torch.tensor([45.0], dtype=torch.float64))


def test_cluster_ranks_of_a_centroids_own_members_are_one():
    torch.manual_seed(0)
    centroids = torch.randn(6, 16) * 5
    owner = torch.arange(6).repeat_interleave(10)
    members = centroids[owner] + 0.1 * torch.randn(60, 16)
    ranks = centroid_ranks(members, centroids)
    assert torch.equal(ranks[torch.arange(60), owner], torch.ones(60, dtype=torch.long))
    assert torch.equal(ranks.sort(1).values, torch.arange(1, 7).expand(60, 6))  # every row a permutation of 1..K
    own = torch.nn.functional.one_hot(owner, 6).bool()
    assert torch.equal(selected_rank(ranks, own), torch.ones(60, dtype=torch.long))
    others = ~own  # selecting every other expert: the best of them is rank 2
    assert torch.equal(selected_rank(ranks, others), torch.full((60,), 2, dtype=torch.long))


def test_mean_pairwise_distance_of_experts():
    velocities = torch.stack([torch.zeros(2, 4), torch.ones(2, 4), 2 * torch.ones(2, 4)])  # distances 2, 4, 2
    torch.testing.assert_close(mean_pairwise_distance(velocities), torch.full((2,), 8 / 3, dtype=torch.float64))


def test_styled_digits_states_are_embedded_in_the_colour_quantile_space_of_their_clustering():
    """The same features hddm.prepare clustered styled digits with, from images in [-1, 1]."""
    from hddm.analysis.embedding import ClusterEmbedder
    from hddm.data.features import ColourQuantiles

    images = torch.rand(4, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    embed = ClusterEmbedder("unused", {"space": "pixel", "name": "styled_digits"}, "euclidean")
    expected = ColourQuantiles()(((images + 1) * 127.5).round().to(torch.uint8))
    assert embed.name == ColourQuantiles.extractor_id and torch.equal(embed(images), expected)
