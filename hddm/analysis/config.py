"""The schema of `python -m hddm.analyze`: one dataclass per analysis, each the schema of its `analysis=<name>` option
(registered by hddm.analyze), so an option one analysis does not read is refused for it at composition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from hddm.choices import FeatureMetric, SwitchingStrategy
from hddm.config import SampleRunConfig


def routings(*names: str):
    return field(default_factory=lambda: list(names))


@dataclass
class AnalysisConfig:
    name: str = MISSING


@dataclass
class ClusterRankConfig(AnalysisConfig):  # Table 1
    strategies: list[str] = routings("top1", "top2", "full")
    times: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])  # when states are embedded
    partition_path: Optional[str] = None  # the experts' assignment file (centroids); default from the cache
    feature_metric: FeatureMetric = FeatureMetric.cosine  # the partition's k-means metric (cosine: unit-normalised)


@dataclass
class AngularDeviationConfig(AnalysisConfig):  # Table 2 (Top-2)
    pass


@dataclass
class PerceptualConfig(AnalysisConfig):
    lpips_weights: Optional[str] = None  # LPIPS backbone file; None: the named DSSIM stand-in (hddm.metrics.diversity)


@dataclass
class DisagreementConfig(PerceptualConfig):  # Figure 1
    pass


@dataclass
class RefineConfig(PerceptualConfig):  # Table 3, Delta_refine
    strategies: list[str] = routings("top1", "top2", "full")
    refine_steps: int = 50  # N of Delta_refine (N vs 2N steps)
    refine_percentile: float = 99.0  # tau_refine: this percentile of Top-2's Delta_refine


@dataclass
class SensitivityConfig(AnalysisConfig):  # Tables 3 and 6, L_eff
    strategies: list[str] = routings("top1", "top2", "full")
    power_iterations: int = 8  # per spectral norm
    jacobian_every: int = 10  # measure the Jacobian every this many steps (and at t = 0.5)


@dataclass
class RescueConfig(PerceptualConfig):  # Tables 7-9, on the full ensemble
    refine_steps: int = 50
    temperatures: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 2.0, 4.0])
    top_ps: list[float] = field(default_factory=lambda: [0.5, 0.8, 0.95])
    clip_iterations: int = 3  # power iterations of the clipping's per-expert norms (0: no clipping variant)


@dataclass
class SwitchingConfig(PerceptualConfig):  # Tables 12 and 15
    refine_steps: int = 50
    switching_strategy: SwitchingStrategy = SwitchingStrategy.top1
    switching_percentile: float = 75.0  # poor convergence = Delta_refine above this percentile
    eps_switch: float = 1e-3


ANALYSIS_SCHEMAS = {
    "cluster_rank": ClusterRankConfig,
    "angular_deviation": AngularDeviationConfig,
    "disagreement": DisagreementConfig,
    "refine": RefineConfig,
    "sensitivity": SensitivityConfig,
    "rescue": RescueConfig,
    "switching": SwitchingConfig,
}


@dataclass
class AnalyzeConfig(SampleRunConfig):
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    steps: int = 50
    n: int = 32
    batch_size: int = 32
