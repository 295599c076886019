"""Structured configs: the schema every composed Hydra config is merged into and validated against."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from hddm.choices import (
    ConversionMode,
    DataSpace,
    ExpertOrder,
    MoEInference,
    MoEKind,
    ObjectiveName,
    PartitionMethod,
    Precision,
    RouterSource,
    RoutingStrategy,
    ScheduleName,
    Solver,
    TextEncoderName,
    TrainingSolver,
)
from hddm.data.embedded import EMBEDDED, is_image_set, is_pixel_pool
from hddm.diffusion.objectives import PREDICTION_OF, Prediction
from hddm.errors import HddmError
from hddm.io import sha256_file
from hddm.models.dit import DIT_SIZES, DiTConfig
from hddm.sweep_job_names import job_dirname


@dataclass
class ObjectiveConfig:
    name: ObjectiveName = MISSING
    prediction: Prediction = MISSING  # the objective's own (PREDICTION_OF), set by objective=<name>
    default_schedule: ScheduleName = MISSING  # used when no schedule=<name> is given
    time_scale: float = 999.0  # t_model = time_scale * t


@dataclass
class ScheduleConfig:
    name: ScheduleName = MISSING


@dataclass
class ModelConfig:
    """model=<name> selects a size of hddm.models.dit.DIT_SIZES (registered below); every field can be overridden,
    e.g. model=dit_s2 model.depth=2. Bundles record the fields, not just the name."""

    name: str = MISSING
    hidden_size: int = MISSING
    depth: int = MISSING
    num_heads: int = MISSING
    patch_size: int = MISSING
    mlp_ratio: float = 4.0
    moe: MoEKind = MoEKind.dense  # diffmoe, tc or ec: every second block's FFN is an MoE layer
    num_experts: int = 0


def data_record(data: DataConfig) -> dict:
    """What a bundle's manifest says of the data it models (readers check an ensemble's members agree on it); for
    data=images also where the prepared set lives, which the metrics read their reference and classifier from."""
    record = {
        "name": data.name,
        "space": str(data.space),  # plain strings: manifests also go into checkpoints, which load weights-only
        "channels": data.channels,
        "image_size": data.image_size,
        "scale_factor": data.scale_factor,
    }
    if is_image_set(data):
        record["image_set"] = str(Path(data.shard_dir).expanduser().resolve())
    return record


def partition_record(partition: PartitionConfig) -> dict:
    """What a bundle's manifest says of the partition it was trained on, with the assignment file's sha256."""
    return {
        "name": partition.name,
        "method": str(partition.method),
        "num_clusters": partition.num_clusters,
        "sha256": sha256_file(partition.path),
    }


def model_size(model: ModelConfig) -> DiTConfig:
    """The DiT size a model config describes, after every override; one-line errors for sizes that cannot be built."""
    fields = {name: getattr(model, name) for name in DiTConfig.__dataclass_fields__}
    size = DiTConfig(**{**fields, "moe": "" if model.moe == MoEKind.dense else str(model.moe)})  # bundles: "" dense
    if min(size.hidden_size, size.depth, size.num_heads, size.patch_size) < 1 or size.hidden_size % size.num_heads:
        raise HddmError(
            f"model {model.name}: hidden_size={size.hidden_size}, depth={size.depth}, num_heads={size.num_heads}, "
            f"patch_size={size.patch_size}: all must be >= 1 and hidden_size a multiple of num_heads"
        )
    if size.moe and size.num_experts < 2:
        raise HddmError(f"model.moe={model.moe} with model.num_experts={size.num_experts}: set model.num_experts>=2")
    return size


@dataclass
class TextConfig:
    name: TextEncoderName = MISSING
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    name: str = MISSING  # mnist | styled_digits | latents
    space: DataSpace = DataSpace.pixel
    channels: int = 1
    image_size: int = 28
    cache_dir: str = "${oc.env:HDDM_CACHE,${oc.env:HOME}/.cache/hddm}"
    split: str = "trainval"
    shard_dir: Optional[str] = None
    scale_factor: float = 1.0
    batch_size: int = 64
    num_workers: int = 0
    val_fraction: float = 0.02
    val_max_items: int = 512
    domains: Optional[list[str]] = (
        None  # styled_digits: the domains rendered (None: the eight of hddm.data.styled_digits)
    )
    render_seed: int = 0  # styled_digits: domain assignment, colour jitter and which captions name the domain
    domain_caption_share: float = 0.5  # styled_digits: share of captions that also name the domain
    caption_template: str = "a photo of a {label}"  # images: the caption of a labelled item without its own
    test_fraction: float = 0.1  # images: the seeded share hddm.prepare holds out as the metrics' reference split


@dataclass
class PartitionConfig:
    name: str = MISSING
    method: PartitionMethod = MISSING
    num_clusters: int = 10
    path: str = MISSING


@dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 5000
    moe_balance: float = 0.0  # weight of token-choice MoE layers' load-balancing loss (Switch: N sum_i f_i P_i)


@dataclass
class EMAConfig:
    decay: float = 0.9999
    warmup: bool = True  # decay_n = min(decay, (1 + n) / (10 + n))


@dataclass
class SafeguardsConfig:
    alpha_min: Optional[float] = 0.01
    x0_clamp: Optional[float] = 5.0  # 5 for pixels, 20 for latents
    adaptive_scaling: bool = False
    finite_difference: bool = False


@dataclass
class SampleConfig:
    n: int = 16
    steps: int = 50
    solver: TrainingSolver = TrainingSolver.euler
    cfg_scale: float = 3.0
    prompts: Optional[list[str]] = None  # None: prompts of the cluster's own classes (embedded default)
    seed: int = 0
    safeguards: SafeguardsConfig = field(default_factory=SafeguardsConfig)


@dataclass
class CheckpointConfig:
    every_n_steps: int = 500
    keep: int = -1  # periodic checkpoints kept (-1: all); last.ckpt is always kept


@dataclass
class TrainConfig:
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    trainer: dict[str, Any] = field(default_factory=dict)  # keyword arguments of lightning.Trainer
    logger: dict[str, Any] = field(default_factory=dict)  # name -> {_target_: a Lightning logger, ...}
    cluster: int = 0
    cfg_dropout: float = 0.1
    seed: int = 0
    resume: bool = True
    init: Optional[str] = None  # an initialisation folder from `python -m hddm.convert_dit` (fresh runs only)
    callbacks: dict[str, Any] = field(default_factory=dict)  # name -> {_target_: a Lightning callback, ...}
    run_name: str = MISSING


@dataclass
class RouterOptimConfig:
    lr: float = 5e-5  # AdamW, cosine-annealed to lr_min over trainer.max_steps, no warm-up (supplement 1.3)
    lr_min: float = 5e-7
    weight_decay: float = 1e-2


@dataclass
class RouterTrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    optim: RouterOptimConfig = field(default_factory=RouterOptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    trainer: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    text_aware: bool = False  # an hddm option: the router also sees the pooled prompt embedding
    clusters: Optional[list[int]] = None  # train on these clusters' items only (the data its trainer has); null: all
    seed: int = 0
    resume: bool = True
    callbacks: dict[str, Any] = field(default_factory=dict)  # name -> {_target_: a Lightning callback, ...}
    run_name: str = MISSING


@dataclass
class HeadSizeConfig:  # density-ratio heads: the router's trunk at a few percent of a tiny expert's cost
    hidden_size: int = 64
    depth: int = 2
    num_heads: int = 2
    patch_size: int = 4


@dataclass
class HeadTrainConfig:
    expert: str = MISSING  # the expert bundle the routing information is for; written into <expert>/routing/
    head: HeadSizeConfig = field(default_factory=HeadSizeConfig)
    kinds: list[str] = field(default_factory=lambda: ["blind", "text"])  # blind: (x_t, t); text: also the prompt
    data: DataConfig = field(default_factory=DataConfig)  # the expert's training data: its cluster's items
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    reference: DataConfig = field(default_factory=DataConfig)  # the public reference set every head is trained against
    features: str = "colour_quantiles"  # the shared clustering feature space of the centroids
    centroids: int = 4  # k-means centroids of the cluster's own items in that space
    optim: RouterOptimConfig = field(default_factory=RouterOptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    trainer: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    resume: bool = True
    run_name: str = MISSING


@dataclass
class RoutingConfig:
    strategy: RoutingStrategy = RoutingStrategy.topk
    # trained: ensemble.router's bundle | density_ratio | centroid: what each expert brings | oracle: the expert of
    # the domain each prompt names (a reference, styled digits only)
    router: RouterSource = RouterSource.trained
    text_aware: bool = False  # router=density_ratio: the heads that also read the prompt
    centroid_every: int = 1  # router=centroid: re-embed the x0 estimate every this many field evaluations
    k: int = 2
    temperature: float = 1.0
    top_p: Optional[float] = None
    tau: float = 0.5
    order: ExpertOrder = ExpertOrder.fm_first
    seed: int = 0


@dataclass
class ConversionConfig:
    mode: ConversionMode = ConversionMode.paper
    path: str = "linear"  # the integration path of snr_matched
    safeguards: SafeguardsConfig = field(default_factory=SafeguardsConfig)


@dataclass
class MoEInferenceConfig:  # DiffMoE experts only (hddm.models.moe): how tokens pick experts at sampling time
    mode: MoEInference = MoEInference.dynamic  # dynamic: learned per-expert thresholds | gamma: one fixed threshold |
    # topk: per-sample top-K
    gamma: float = 0.5  # the threshold of mode=gamma (0 activates every expert, 1 none)
    capacity: float = 1.0  # mode=topk: each expert takes capacity * S / N tokens of each sample


@dataclass
class LatentDecoderConfig:  # latent-space ensembles: the VAE that turns samples into images (grids, metrics)
    pretrained: Optional[str] = None  # hub id or local diffusers AutoencoderKL folder (the one the shards used)
    scale_factor: float = 0.18215  # what the shards' latents were multiplied by (hddm.prepare vae.scale_factor)
    precision: Precision = Precision.float32  # bfloat16: autocast, on GPUs only


@dataclass
class EnsembleConfig:
    name: str = MISSING
    experts: list[str] = MISSING  # expert bundle folders
    router: Optional[str] = None  # router bundle folder (not needed by threshold routing)


@dataclass
class SampleRunConfig:
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    moe: MoEInferenceConfig = field(default_factory=MoEInferenceConfig)
    vae: LatentDecoderConfig = field(default_factory=LatentDecoderConfig)
    prompt: Optional[str] = None  # one prompt for all n samples ...
    prompts: Optional[list[str]] = None  # ... or a list, cycled over the n samples ...
    prompts_file: Optional[str] = None  # ... or a text file with one prompt per line, cycled likewise
    n: int = 16
    steps: int = 75
    solver: Solver = Solver.euler
    cfg_scale: float = 6.0
    seed: int = 0
    batch_size: int = 64
    device: str = "auto"
    offload: bool = False
    cache_dir: str = "${oc.env:HDDM_CACHE,${oc.env:HOME}/.cache/hddm}"
    grid_columns: int = 8  # most images per row of grid.png (a row per prompt; a prompt with more wraps)


@dataclass
class ReferenceMetricConfig:  # fid, domain_fid: Frechet distances to a reference split's statistics
    reference_split: str = "test"  # MNIST's built-in splits
    reference_path: Optional[str] = None  # real scale: a folder of real images (captions file or .tar shards)
    reference_resolution: int = 256  # folder images are centre-cropped and resized to this
    reference_max_items: Optional[int] = None  # None: the whole split / folder
    reference_labels: Optional[list[int]] = None  # only these classes (digits; data=images: class indices); None: all
    per_class: bool = False  # also one Frechet distance per prompted class, against that class's reference images
    batch_size: int = 50


@dataclass
class ClipMetricConfig:  # real scale: torchmetrics CLIPScore; MNIST: prompt_adherence_mnist_cnn instead
    model: str = "openai/clip-vit-large-patch14"  # hub id or a local transformers CLIP folder


@dataclass
class DiversityMetricConfig:
    prompts: int = 100  # P prompts (cycled from the prompt list) ...
    images_per_prompt: int = 10  # ... M images each
    lpips_weights: Optional[str] = None  # torchvision backbone file for LPIPS; None: the named DSSIM stand-in
    lpips_net: str = "alex"


@dataclass
class PrecisionRecallConfig:  # k-NN precision/recall (Kynkaanniemi et al. 2019) on the domain-FID classifier's features
    k: int = 3
    reference_split: str = "test"


@dataclass
class MetricsConfig:  # a metric runs when its entry is set (metrics=[fid,clip,diversity] selects conf/metrics/*)
    fid: Optional[ReferenceMetricConfig] = None
    domain_fid: Optional[ReferenceMetricConfig] = None
    clip: Optional[ClipMetricConfig] = None
    diversity: Optional[DiversityMetricConfig] = None
    precision_recall: Optional[PrecisionRecallConfig] = None


@dataclass
class EvaluateConfig(SampleRunConfig):
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    n: int = 1000  # samples for fid / domain_fid / clip (diversity draws its own P x M); no prompt: the ten digits
    trainer: dict[str, Any] = field(default_factory=dict)  # lightning.Trainer arguments (devices, strategy)
    grid_size: int = 64  # samples in grid.png


def run_of_bundle(path: str) -> str:
    """The run folder's name of a bundle path (runs/experts/<run>/expert -> <run>), for names derived from it."""
    bundle = Path(path)
    return bundle.parent.name if bundle.name in ("expert", "router") else bundle.name


def register_configs() -> None:
    if not OmegaConf.has_resolver("hddm_job_dirname"):  # a sweep job's folder: conf/<command>.yaml hydra.sweep.subdir
        OmegaConf.register_new_resolver("hddm_job_dirname", job_dirname)
    if not OmegaConf.has_resolver("hddm_run_of"):
        OmegaConf.register_new_resolver("hddm_run_of", run_of_bundle)
    store = ConfigStore.instance()
    for name, size in DIT_SIZES.items():  # model=<name>: every registered size, no file per size
        fields = {**asdict(size), "moe": MoEKind(size.moe or "dense")}
        store.store(group="model", name=name, node=ModelConfig(name=name, **fields))
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="train_router_schema", node=RouterTrainConfig)
    store.store(name="train_head_schema", node=HeadTrainConfig)
    store.store(name="sample_schema", node=SampleRunConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False
    integer: bool = False

    def holds(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.integer and value != int(value)):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        low = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"{kind} {' and '.join(b for b in (low, high) if b)}".strip()


COUNT, POSITIVE = Range(1, integer=True), Range(0, low_open=True)
RANGES = {  # every numeric option with a bounded meaning, wherever a command's config has it; None is allowed
    "n": COUNT,
    "batch_size": COUNT,
    "steps": COUNT,
    "cfg_scale": Range(0),
    "seed": Range(0, integer=True),
    "cluster": Range(0, integer=True),
    "routing.k": COUNT,
    "routing.tau": Range(0, 1),
    "routing.temperature": POSITIVE,
    "routing.top_p": Range(0, 1, low_open=True),
    "routing.centroid_every": COUNT,
    "conversion.safeguards.alpha_min": Range(0, 1, low_open=True),
    "conversion.safeguards.x0_clamp": POSITIVE,
    "partition.num_clusters": COUNT,
    "data.batch_size": COUNT,
    "optim.lr": POSITIVE,
    "optim.lr_min": Range(0),
    "optim.weight_decay": Range(0),
    "optim.warmup_steps": Range(0, integer=True),
    "optim.moe_balance": Range(0),
    "ema.decay": Range(0, 1, high_open=True),
    "cfg_dropout": Range(0, 1, high_open=True),
    "sample.n": Range(0, integer=True),
    "sample.steps": COUNT,
    "checkpoint.every_n_steps": COUNT,
    "trainer.max_steps": COUNT,
    "trainer.val_check_interval": POSITIVE,
}


def check_ranges(cfg: DictConfig) -> None:
    for key, allowed in RANGES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not allowed.holds(value):
            raise HddmError(f"{key}={value!r} is out of range: {key} must be {allowed}")


def to_typed(cfg: DictConfig):
    """Resolve and type-check a composed config into its schema dataclass, numeric options within their RANGES;
    one-line errors."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise HddmError(f"missing config value {missing[0]}: set it on the command line ({missing[0]}=...)")
    try:
        typed = OmegaConf.to_object(cfg)
    except Exception as error:  # OmegaConf's message names the key and the bad value
        raise HddmError(f"invalid config: {str(error).splitlines()[0]}") from None
    check_ranges(cfg)
    return typed


def check_data(data: DataConfig) -> None:
    if not is_pixel_pool(data) and not data.shard_dir:
        raise HddmError(f"data={data.name} reads cached shards: set data.shard_dir=/path/to/shards")
    if data.name in EMBEDDED and data.shard_dir and is_pixel_pool(data):
        raise HddmError(f"data.name={data.name} is an embedded dataset's name: give your images another data.name")


def validate_router_config(cfg: DictConfig) -> RouterTrainConfig:
    typed: RouterTrainConfig = to_typed(cfg)
    model_size(typed.model)
    check_data(typed.data)
    k = typed.partition.num_clusters
    if typed.clusters is not None and (not typed.clusters or not all(0 <= c < k for c in typed.clusters)):
        raise HddmError(
            f"clusters={typed.clusters}: list some of the partition's clusters 0..{k - 1}, or clusters=null for all"
        )
    return typed


def validate_train_config(cfg: DictConfig) -> TrainConfig:
    """Resolve and type-check the whole config, then check the names that select code; one-line errors."""
    typed: TrainConfig = to_typed(cfg)
    model_size(typed.model)
    objective = typed.objective
    if objective.prediction is not PREDICTION_OF[objective.name]:
        raise HddmError(
            f"objective.prediction={objective.prediction} is not what objective={objective.name} predicts "
            f"({PREDICTION_OF[objective.name]}): leave objective.prediction to objective=<name>"
        )
    check_data(typed.data)
    return typed
