"""Paired bootstrap intervals for the difference of a metric between two rows sampled with the same noise and prompts.

Row A's sample i and row B's sample i share their prompt and starting noise, so resampling the index set once for
both keeps the pairing (Efron & Tibshirani 1993, ch. 16): the interval is of the difference, not of each row.
Strata (e.g. training seeds) are resampled within themselves, so each keeps its share of the resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Difference:
    estimate: float  # statistic(A) - statistic(B) on all samples
    low: float  # 2.5th percentile of the bootstrap differences
    high: float  # 97.5th percentile
    resamples: int

    @property
    def significant(self) -> bool:
        """Whether the 95 % interval excludes zero."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def resampled_indices(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One bootstrap resample of positions, drawn with replacement within each stratum."""
    return np.concatenate(
        [rng.choice(rows, len(rows)) for rows in (np.flatnonzero(strata == s) for s in np.unique(strata))]
    )


def paired_difference(
    statistic_a: Callable[[np.ndarray], float],
    statistic_b: Callable[[np.ndarray], float],
    n: int,
    strata: Sequence[int] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Difference:
    """statistic_x(indices) -> the metric of row x on those samples (positions 0..n-1, paired across rows)."""
    strata = np.zeros(n, dtype=int) if strata is None else np.asarray(strata)
    rng = np.random.default_rng(seed)
    every = np.arange(n)
    differences = []
    for _ in range(resamples):
        rows = resampled_indices(strata, rng)
        differences.append(statistic_a(rows) - statistic_b(rows))
    low, high = np.percentile(differences, [2.5, 97.5])
    return Difference(float(statistic_a(every) - statistic_b(every)), float(low), float(high), resamples)


def mean_of(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """The statistic 'mean of a per-sample value' (an adherence rate), for paired_difference."""
    values = np.asarray(values, dtype=np.float64)
    return lambda rows: float(values[rows].mean())
