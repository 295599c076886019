"""Paired bootstrap: the interval is of the difference, keeps the pairing and the strata, and covers the truth."""

import numpy as np

from hddm.metrics.bootstrap import mean_of, paired_difference, resampled_indices


def test_identical_rows_give_a_zero_interval():
    values = np.random.default_rng(0).random(50)
    result = paired_difference(mean_of(values), mean_of(values), 50, resamples=200)
    assert result.estimate == result.low == result.high == 0 and not result.significant


def test_pairing_removes_the_shared_variation():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 5, 400)  # per-prompt difficulty, the same in both rows
    a, b = shared + 0.3 + rng.normal(0, 0.1, 400), shared + rng.normal(0, 0.1, 400)
    result = paired_difference(mean_of(a), mean_of(b), 400, resamples=500)
    assert result.significant and result.low < 0.3 < result.high and result.high - result.low < 0.1


def test_resamples_keep_each_stratum_size():
    strata = np.array([0] * 7 + [1] * 3)
    rows = resampled_indices(strata, np.random.default_rng(2))
    assert (strata[rows] == 0).sum() == 7 and (strata[rows] == 1).sum() == 3


def test_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    covered = 0
    for trial in range(100):
        a, b = rng.binomial(1, 0.6, 200), rng.binomial(1, 0.5, 200)
        result = paired_difference(mean_of(a), mean_of(b), 200, resamples=300, seed=trial)
        covered += result.low <= 0.1 <= result.high
    assert 85 <= covered <= 100
