"""k-NN precision/recall (Kynkaanniemi et al. 2019) on sets whose answer is known."""

import pytest
import torch

from hddm.metrics.precision_recall import knn_radii, precision_recall


def gaussian(n, mean=0.0, std=1.0, seed=0):
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * std + mean


def test_same_distribution_scores_near_one():
    scores = precision_recall(gaussian(600, seed=0), gaussian(600, seed=1))
    assert scores["precision"] > 0.7 and scores["recall"] > 0.7


def test_disjoint_sets_score_zero():
    assert precision_recall(gaussian(200), gaussian(200, mean=50.0)) == {"precision": 0.0, "recall": 0.0}


def test_truncation_raises_precision_and_lowers_recall():
    real, full = gaussian(600, seed=0), precision_recall(gaussian(600, seed=0), gaussian(600, seed=1))
    truncated = precision_recall(real, gaussian(600, std=0.3, seed=1))
    assert truncated["precision"] >= full["precision"] and truncated["recall"] < 0.5 * full["recall"]


def test_radius_is_the_kth_other_point():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="k=3"):
        precision_recall(gaussian(3), gaussian(10))
