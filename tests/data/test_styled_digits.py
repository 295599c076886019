"""Styled digits: deterministic rendering, domain independent of digit, captions, label-free clusters = domains."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from hddm.data import mnist
from hddm.data.cluster_report import overall_purity
from hddm.data.clustering import fit_hierarchical_kmeans
from hddm.data.features import ColourQuantiles
from hddm.data.styled_digits import (
    DOMAINS,
    assign_domains,
    caption_index,
    domain_prompt,
    get_domains,
    load_styled,
    prompt_table,
    prompted_domain,
    render,
    styled_arrays,
)
from hddm.errors import HddmError
from hddm.metrics.adherence import prompted_digit


@pytest.fixture(scope="module")
def sample(cache_dir):
    """2000 test digits, their domains and rendered images (seeded)."""
    images, digits = mnist.load_split(cache_dir, "test")
    images, digits = images[:2000], digits[:2000]
    rng = np.random.default_rng(0)
    domains = assign_domains(digits, len(DOMAINS), rng)
    return images, digits, domains, render(images, domains, DOMAINS, rng)


def test_rendering_is_deterministic_and_rgb(sample):
    images, digits, domains, rendered = sample
    rng = np.random.default_rng(0)
    again = render(images, assign_domains(digits, len(DOMAINS), rng), DOMAINS, rng)
    assert rendered.dtype == np.uint8 and rendered.shape == (2000, 3, 28, 28) and np.array_equal(rendered, again)
    # each domain's card colour is the mean of its corner pixels, and the domains differ there
    corners = np.stack(
        [rendered[domains == d][:, :, :3, :3].reshape(-1, 3, 9).mean((0, 2)) for d in range(len(DOMAINS))]
    )
    assert np.min(np.linalg.norm(corners[:, None] - corners[None], axis=-1) + np.eye(len(DOMAINS)) * 1e9) > 20


def test_domain_is_independent_of_digit(sample):
    _, digits, domains, _ = sample
    table = np.zeros((10, len(DOMAINS)))
    np.add.at(table, (digits, domains), 1)
    statistic, p_value, *_ = chi2_contingency(table)
    assert p_value > 0.99  # dealt round-robin within each digit: proportions match to one image
    assert (np.abs(table - table.sum(1, keepdims=True) / len(DOMAINS)) <= 1).all()


def test_label_free_clustering_finds_the_domains(sample):
    _, digits, domains, rendered = sample
    features = ColourQuantiles()(torch.from_numpy(rendered)).numpy()
    model = fit_hierarchical_kmeans(features, 8, 32, "euclidean", 0, "kmeans", 100)
    assignment = model.assign(features)
    assert overall_purity(assignment, 8, domains) >= 0.9
    assert overall_purity(assignment, 8, digits) <= 0.3


def test_captions_name_the_digit_and_a_share_name_the_domain(cache_dir):
    split = load_styled(cache_dir, "test")
    rows = np.arange(len(split.digits))
    prompts = prompt_table(split.domain_names)
    captions = [prompts[i] for i in caption_index(split, rows, 0.5, 0)]
    assert all(prompted_digit(c) == d for c, d in zip(captions, split.digits))
    named = [prompted_domain(c) for c in captions]
    assert 0.45 < np.mean([n is not None for n in named]) < 0.55
    assert all(n is None or n == split.domain_names[d] for n, d in zip(named, split.domains))
    assert all(prompted_domain(p) is None for p in (prompts[i] for i in caption_index(split, rows[:50], 0.0, 0)))
    assert prompted_domain(domain_prompt(7, "red_on_navy")) == "red_on_navy"


def test_cache_is_checksummed_and_rebuilt(cache_dir, capsys):
    path = styled_arrays(cache_dir)
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["items"] == {"train": 50000, "val": 10000, "test": 10000}
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert styled_arrays(cache_dir) == path and "fails its checksum" in capsys.readouterr().out
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == manifest["sha256"]  # deterministic


def test_unknown_domain_is_one_line():
    with pytest.raises(HddmError, match="data.domains") as error:
        get_domains(["red_on_navy", "velvet"])
    assert "\n" not in str(error.value)
