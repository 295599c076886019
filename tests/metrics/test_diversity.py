"""Intra-prompt diversity: mean pairwise perceptual distance per prompt, mean and std across prompts."""

import pytest
import torch

from hddm.errors import HddmError
from hddm.metrics.diversity import STANDIN_NAME, mean_pairwise_distance, perceptual_distance, summarize


def test_identical_images_have_zero_diversity_and_distinct_ones_more():
    distance = perceptual_distance()
    assert distance.implementation["name"] == STANDIN_NAME and "LPIPS" in distance.implementation["note"]
    same = torch.rand(1, 1, 28, 28).repeat(5, 1, 1, 1) * 2 - 1
    assert mean_pairwise_distance(same, distance) == pytest.approx(0.0, abs=1e-6)
    different = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert mean_pairwise_distance(different, distance) > 0.2


def test_summary_is_mean_and_std_across_prompts():
    summary = summarize(torch.tensor([0.1, 0.3]), {"name": "x"})
    assert summary["mean"] == pytest.approx(0.2) and summary["std"] == pytest.approx(0.1414, abs=1e-4)
    assert summary["prompts"] == 2 and summary["distance"] == {"name": "x"}


def test_lpips_from_a_local_backbone_file(tmp_path):
    import torchvision

    weights = tmp_path / "squeezenet.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), weights)
    distance = perceptual_distance(str(weights), "squeeze")
    assert distance.implementation["name"] == "lpips_squeeze"
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert mean_pairwise_distance(images[:1].repeat(3, 1, 1, 1), distance) == pytest.approx(0.0, abs=1e-6)
    assert mean_pairwise_distance(images, distance) > 0


def test_missing_lpips_weights_and_single_images_are_refused(tmp_path):
    with pytest.raises(HddmError, match="not found"):
        perceptual_distance(str(tmp_path / "missing.pth"))
    with pytest.raises(HddmError, match="at least 2"):
        mean_pairwise_distance(torch.zeros(1, 1, 28, 28), perceptual_distance())
