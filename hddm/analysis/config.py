"""The schema of `python -m hddm.analyze` (registered as analyze_schema by hddm.analyze)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from hddm.choices import FeatureMetric, SwitchingStrategy
from hddm.config import SampleRunConfig


@dataclass
class AnalysisConfig:
    name: str = MISSING  # cluster_rank | angular_deviation | disagreement | sensitivity | refine | rescue | switching
    strategies: list[str] = field(default_factory=lambda: ["top1", "top2", "full"])  # compared routings
    times: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])  # cluster_rank: when states are embedded
    partition_path: Optional[str] = (
        None  # cluster_rank: the experts' assignment file (centroids); default from the cache
    )
    # the partition's k-means metric (cosine: features and centroids unit-normalised)
    feature_metric: FeatureMetric = FeatureMetric.cosine
    lpips_weights: Optional[str] = None  # LPIPS backbone file; None: the named DSSIM stand-in (hddm.metrics.diversity)
    refine_steps: int = 50  # N of Delta_refine (N vs 2N steps)
    refine_percentile: float = 99.0  # tau_refine: this percentile of Top-2's Delta_refine
    power_iterations: int = 8  # sensitivity: power iterations per spectral norm
    jacobian_every: int = 10  # sensitivity: measure the Jacobian every this many steps (and at t = 0.5)
    temperatures: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 2.0, 4.0])  # rescue
    top_ps: list[float] = field(default_factory=lambda: [0.5, 0.8, 0.95])  # rescue
    clip_iterations: int = 3  # rescue: power iterations of the clipping's per-expert norms (0: no clipping variant)
    switching_strategy: SwitchingStrategy = SwitchingStrategy.top1  # switching
    switching_percentile: float = 75.0  # switching: poor convergence = Delta_refine above this percentile
    eps_switch: float = 1e-3


@dataclass
class AnalyzeConfig(SampleRunConfig):
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    steps: int = 50
    n: int = 32
    batch_size: int = 32
