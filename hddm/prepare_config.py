"""Structured config of `python -m hddm.prepare`: the schema conf/prepare.yaml is merged into and validated against.

`data` and `text` reuse the training's schema and config groups (conf/data, conf/text), so one `data=...`
names the same dataset, cache folder and partition path in both commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from hddm.choices import (
    ClusterAlgorithm,
    ClusterMetric,
    ComputePrecision,
    FeatureExtractor,
    PrepareStage,
    StorageDtype,
)
from hddm.config import DataConfig, TextConfig
from hddm.data.embedded import is_image_set, is_pixel_pool
from hddm.errors import HddmError


@dataclass
class SourceConfig:
    # real scale: a folder with captions.jsonl/.tsv + images, or a folder of .tar shards; data=images: also an .npz
    # or a folder of class folders
    path: Optional[str] = None
    image_size: int = 256  # square centre crop, resized to this (the VAE input: 256 -> 32x32 latents)
    shard_size: int = 10000  # items per cache shard (MNIST, caption folders); tar sources: one shard per tar
    decode_workers: int = 8


@dataclass
class FeaturesConfig:
    # auto: mnist_cnn for mnist, colour_quantiles for styled_digits, pixels for data=images, dinov2 for latents
    # | dinov2 | mnist_cnn | pixels (label-free raw pixels) | colour_quantiles
    name: FeatureExtractor = FeatureExtractor.auto
    model: str = "vit_large_patch14_dinov2"  # timm name (dinov2)
    weights: str = "hub"  # hub | none (random init: tests, cost measurements) | /path/to/weights.safetensors
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: int = 224
    batch_size: int = 64
    dtype: StorageDtype = StorageDtype.float32  # stored features
    cnn_steps: int = 1500  # training steps of the mnist_cnn recipe


@dataclass
class VAEConfig:
    pretrained: str = "stabilityai/sd-vae-ft-ema"  # hub id or a local diffusers AutoencoderKL folder
    scale_factor: float = 0.18215
    std_range: Optional[list[float]] = field(default_factory=lambda: [0.5, 2.0])  # null: skip the check
    batch_size: int = 32
    dtype: StorageDtype = StorageDtype.float16  # stored latents and text states


@dataclass
class ClusterConfig:
    k: int = 8
    fine_k: int = 1024
    metric: ClusterMetric = ClusterMetric.auto
    algorithm: ClusterAlgorithm = ClusterAlgorithm.auto
    fit_max_items: int = 2_000_000  # a seeded sample of this many items fits the fine level; all are assigned
    max_iter: int = 100
    seed: int = 0


@dataclass
class ClassifierConfig:  # the metric classifier of a labelled data=images set (hddm.models.metric_classifier)
    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0


@dataclass
class ReportConfig:
    samples_per_cluster: int = 12
    seed: int = 0


@dataclass
class PrepareConfig:
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    stages: list[PrepareStage] = field(default_factory=lambda: list(PrepareStage))
    limit: Optional[int] = None  # the first N items only (quick runs; MNIST and caption folders)
    shard_index: int = 0  # this job's shards: those with number % num_shards == shard_index
    num_shards: int = 1
    device: str = "auto"  # auto: cuda if available
    precision: ComputePrecision = ComputePrecision.auto
    partition_path: str = "${data.cache_dir}/partitions/${data.name}_kmeans${cluster.k}.safetensors"


def register_prepare_configs() -> None:
    ConfigStore.instance().store(name="prepare_schema", node=PrepareConfig)


def validate_prepare_config(cfg: DictConfig) -> PrepareConfig:
    """Resolve and type-check the config, then the names that select code: one-line errors before any work."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise HddmError(f"missing config value {missing[0]}: set it on the command line ({missing[0]}=...)")
    try:
        typed: PrepareConfig = OmegaConf.to_object(cfg)
    except Exception as error:  # OmegaConf's message names the key and the bad value
        raise HddmError(f"invalid config: {str(error).splitlines()[0]}") from None
    if not 0 <= typed.shard_index < typed.num_shards:
        raise HddmError(f"shard_index={typed.shard_index} must be in 0..num_shards-1 (num_shards={typed.num_shards})")
    if typed.cluster.k < 1 or typed.cluster.fine_k < typed.cluster.k:
        raise HddmError(
            f"need 1 <= cluster.k <= cluster.fine_k, got k={typed.cluster.k}, fine_k={typed.cluster.fine_k}"
        )
    if not is_pixel_pool(typed.data) and not typed.source.path:
        raise HddmError(f"data={typed.data.name} reads images and captions: set source.path=/path/to/images")
    if is_image_set(typed.data) and "pixels" in typed.stages and not typed.source.path:
        raise HddmError(
            "data=images reads your images in the pixels stage: set source.path=<file.npz | folder>, or leave the "
            "stage out (stages=[features,classifier,cluster]) to reuse the prepared set"
        )
    if "latents" in typed.stages and typed.data.space == "latent" and not typed.data.shard_dir:
        raise HddmError("the latents stage writes the training shards: set data.shard_dir=/path/to/shards")
    if typed.limit is not None and typed.limit < 1:
        raise HddmError(f"limit={typed.limit} must be a positive number of items (or null)")
    return typed
