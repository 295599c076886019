"""The fixed sets of values that string options take, as enums the typed configs declare: Hydra refuses any other
value while it composes the config, in one line listing the choices (hddm.jobs.composition_error). The registries
that map these names to code (routing strategies, solvers, router sources, ...) take their names from here."""

from __future__ import annotations

from enum import StrEnum


class DataSpace(StrEnum):
    pixel = "pixel"
    latent = "latent"


class PartitionMethod(StrEnum):
    label_mod_k = "label_mod_k"  # built on demand from the labels
    file = "file"  # written by the clustering pipeline (hddm.prepare)


class TrainingSolver(StrEnum):  # the samples a training run draws at its end
    euler = "euler"
    heun = "heun"


class Solver(StrEnum):
    euler = "euler"
    heun = "heun"
    ddim = "ddim"  # native samplers of a lone DDPM expert: the conversion's baseline
    ancestral = "ancestral"


class RoutingStrategy(StrEnum):
    top1 = "top1"
    topk = "topk"
    full = "full"
    threshold = "threshold"
    random_topk = "random_topk"


class RouterSource(StrEnum):
    trained = "trained"
    density_ratio = "density_ratio"
    centroid = "centroid"
    oracle = "oracle"


class ExpertOrder(StrEnum):
    fm_first = "fm_first"
    ddpm_first = "ddpm_first"
    listed = "listed"


class ConversionMode(StrEnum):
    paper = "paper"
    snr_matched = "snr_matched"


class MoEInference(StrEnum):
    dynamic = "dynamic"
    gamma = "gamma"
    topk = "topk"


class Precision(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"


class ComputePrecision(StrEnum):  # hddm.prepare's feature and latent passes
    auto = "auto"  # bfloat16 autocast on GPUs, float32 on CPUs
    float32 = "float32"
    bfloat16 = "bfloat16"


class TextEncoderName(StrEnum):
    minilm = "minilm"  # the packaged all-MiniLM-L6-v2 (embedded scale)
    clip = "clip"  # OpenCLIP ViT-L/14 (real scale)


class ObjectiveName(StrEnum):
    ddpm = "ddpm"  # epsilon prediction, cosine schedule by default
    fm = "fm"  # Flow Matching velocity, linear path by default


class ScheduleName(StrEnum):
    cosine = "cosine"
    linear = "linear"


class FeatureMetric(StrEnum):
    cosine = "cosine"
    euclidean = "euclidean"


class ClusterMetric(StrEnum):
    auto = "auto"  # cosine for network embeddings (dinov2, mnist_cnn), euclidean for pixel statistics
    cosine = "cosine"
    euclidean = "euclidean"


class ClusterAlgorithm(StrEnum):
    auto = "auto"  # minibatch above 200k items
    kmeans = "kmeans"
    minibatch = "minibatch"


class SwitchingStrategy(StrEnum):
    top1 = "top1"
    top2 = "top2"


def names(choice: type[StrEnum]) -> tuple[str, ...]:
    """The plain strings of an enum's values: registry keys and error messages."""
    return tuple(member.value for member in choice)


class MoEKind(StrEnum):  # model.moe: every second block's FFN an MoE layer, or none
    dense = "dense"
    diffmoe = "diffmoe"
    tc = "tc"  # token choice
    ec = "ec"  # expert choice


class PrepareStage(StrEnum):  # hddm.prepare's stages, in the order they run
    pixels = "pixels"
    features = "features"
    latents = "latents"
    classifier = "classifier"
    cluster = "cluster"


class FeatureExtractor(StrEnum):  # the clustering features (hddm.data.features)
    auto = "auto"
    dinov2 = "dinov2"
    mnist_cnn = "mnist_cnn"
    pixels = "pixels"
    colour_quantiles = "colour_quantiles"


class StorageDtype(StrEnum):  # of cached features, latents and text states
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
