"""Prepare the data for the experts: `python -m hddm.prepare data=mnist cluster.k=8`.

Stages (`stages=[pixels,features,latents,classifier,cluster]`, each skipped where it does not apply):
  pixels    data=images only: your images (source.path: .npz, caption folder, .tar shards or class folders) ->
            the set's shards in data.shard_dir, a seeded test split held out (hddm.data.image_set)
  features  image features per source shard (DINOv2 [CLS] at real scale, the project's digit CNN on MNIST)
  latents   real scale only: SD-VAE latents + caption text states, written as the training's shards
  classifier  a labelled data=images set only: the metric classifier of its classes (hddm.models.metric_classifier)
  cluster   hierarchical k-means over all feature shards -> the assignment file
            ${data.cache_dir}/partitions/${data.name}_kmeans${cluster.k}.safetensors (what `partition=file`
            reads), and a report in the run folder: clusters.md / clusters.json (table) and clusters.png (grid).
With num_shards=N, a job does the per-shard stages for the shards with number % N == shard_index and skips
the clustering, which then runs once over everything (stages=[cluster]).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from safetensors import safe_open

from hddm.data import mnist
from hddm.data.caches import ShardedCache, ShardStatus
from hddm.data.cluster_report import cluster_rows, markdown_table, overall_purity, sample_grid
from hddm.data.clustering import HierarchicalKMeans, fit_hierarchical_kmeans, order_by_size
from hddm.data.embedded import is_image_set, is_pixel_pool, pool_of
from hddm.data.features import DTYPES, build_extractor, extract_shard, extractor_id, features_cache, first_line
from hddm.data.image_captions import ArraySource, ImageSource, open_folder_source
from hddm.data.image_set import LABEL_NAME, load_image_set, read_source, write_image_set
from hddm.data.partition import Partition, save_partition
from hddm.device import resolve_device
from hddm.errors import HddmError
from hddm.io import sha256_file, write_json, write_text
from hddm.jobs import hydra_command
from hddm.models.digit_cnn import DigitCNNRecipe
from hddm.models.metric_classifier import FOLDER as CLASSIFIER_FOLDER
from hddm.models.metric_classifier import fit_and_save
from hddm.prepare_config import PrepareConfig, register_prepare_configs, validate_prepare_config


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto': bf16 autocast on GPUs (the throughput the real-scale estimate assumes), fp32 on CPUs."""
    return ("bfloat16" if device.type == "cuda" else "float32") if precision == "auto" else precision


AUTO_EXTRACTORS = {"mnist": "mnist_cnn", "styled_digits": "colour_quantiles"}  # anything else: the paper's DINOv2


def extractor_name(cfg: PrepareConfig) -> str:
    """'auto' picks the paper's DINOv2 at real scale, the digit CNN for MNIST, label-free pooled pixels for
    styled digits and raw pixels for data=images (no label-trained network may shape clusters that are meant to
    be visual domains; DINOv2 on your images: features.name=dinov2 with its weights)."""
    if cfg.features.name != "auto":
        return cfg.features.name
    return AUTO_EXTRACTORS.get(cfg.data.name, "pixels" if is_image_set(cfg.data) else "dinov2")


def cluster_metric(cfg: PrepareConfig) -> str:
    if cfg.cluster.metric != "auto":
        return cfg.cluster.metric
    return "cosine" if extractor_name(cfg) in ("dinov2", "mnist_cnn") else "euclidean"


def open_source(cfg: PrepareConfig) -> tuple[ImageSource, str, dict[str, np.ndarray]]:
    """(source, data hash recorded in the assignment file, metric-only labels by name for the cluster report).

    Labels never enter the source: the features stage sees pixels only."""
    if is_pixel_pool(cfg.data):
        pool = pool_of(cfg.data)
        images = pool.images[: cfg.limit]
        data_hash = mnist.split_hash(images)  # what ExpertDataModule checks the assignment file against
        labels = {name: values[: cfg.limit] for name, values in pool.labels.items()}
        return ArraySource(images, None, data_hash[:16], cfg.source.shard_size), data_hash, labels
    source = open_folder_source(
        cfg.source.path, cfg.source.image_size, cfg.source.shard_size, cfg.limit, cfg.source.decode_workers
    )
    return source, source.fingerprint, {}


def pixels_stage(cfg: PrepareConfig) -> None:
    started = time.time()
    data = cfg.data
    images = read_source(cfg.source.path, data.channels, data.image_size, data.caption_template)
    images.images, images.captions = images.images[: cfg.limit], images.captions[: cfg.limit]
    images.labels = None if images.labels is None else images.labels[: cfg.limit]
    index = write_image_set(Path(data.shard_dir).expanduser(), images, cfg.source.shard_size, data.test_fraction, 0)
    load_image_set.cache_clear()  # this process reads the new set from here on
    print(
        f"hddm: pixels: {index['count']} images ({index['labelled']} labelled, {len(index['class_names'])} classes, "
        f"{len(index['test_rows'])} held out as the test split) -> {data.shard_dir} ({time.time() - started:.0f} s)",
        flush=True,
    )


def classifier_stage(cfg: PrepareConfig) -> None:
    train = pool_of(cfg.data)
    if LABEL_NAME not in train.labels:
        print(f"hddm: classifier: skipped (data.name={cfg.data.name} has no labels)", flush=True)
        return
    test = load_image_set(cfg.data.shard_dir, cfg.data.channels, cfg.data.image_size, "test")[0]
    labelled, test_labelled = train.labels[LABEL_NAME] >= 0, test.labels >= 0
    started = time.time()
    folder = Path(cfg.data.shard_dir).expanduser() / CLASSIFIER_FOLDER
    manifest = fit_and_save(
        folder,
        (train.images[labelled], train.labels[LABEL_NAME][labelled]),
        (test.images[test_labelled], test.labels[test_labelled]),
        train.class_names[LABEL_NAME],
        train.data_hash,
        DigitCNNRecipe(**dataclasses.asdict(cfg.classifier)),
    )
    print(
        f"hddm: classifier: metric classifier of {len(manifest['class_names'])} classes, test accuracy "
        f"{manifest['test_accuracy']} on {manifest['test_items']} held-out images -> {folder} "
        f"({time.time() - started:.0f} s)",
        flush=True,
    )


def job_shards(cfg: PrepareConfig, names: list[str]) -> list[str]:
    return [name for number, name in enumerate(names) if number % cfg.num_shards == cfg.shard_index]


def print_status(stage: str, started: float):
    def report(status: ShardStatus):
        print(f"hddm: {stage} {status.name}: {status.action} ({time.time() - started:.0f} s)", flush=True)

    return report


def open_features_cache(cfg: PrepareConfig, source: ImageSource, precision: str) -> ShardedCache:
    ident = extractor_id(extractor_name(cfg), cfg.features, cfg.data.cache_dir)
    return features_cache(cfg.data.cache_dir, cfg.data.name, ident, source, cfg.features.dtype, precision)


def features_stage(cfg: PrepareConfig, source: ImageSource, device: torch.device, precision: str) -> None:
    cache = open_features_cache(cfg, source, precision)
    extractor = functools.cache(
        lambda: build_extractor(extractor_name(cfg), cfg.features, cfg.data.cache_dir, device, precision)
    )
    index = {name: number for number, name in enumerate(source.shard_names())}
    dtype = DTYPES[cfg.features.dtype]
    cache.build(
        job_shards(cfg, list(index)),
        lambda name: extract_shard(extractor(), source, index[name], cfg.features.batch_size, dtype),
        print_status("features", time.time()),
    )


def open_latents_cache(cfg: PrepareConfig, source: ImageSource, precision: str) -> ShardedCache:
    from hddm.data.latents import latents_cache, vae_id
    from hddm.lit.data import text_encoder_id

    return latents_cache(
        cfg.data.shard_dir,
        vae_id(cfg.vae.pretrained),
        text_encoder_id(cfg.text),
        source,
        cfg.vae.scale_factor,
        cfg.vae.dtype,
        precision,
    )


def latents_stage(cfg: PrepareConfig, source: ImageSource, device: torch.device, precision: str) -> None:
    from hddm.data.latents import VAEEncoder, encode_shard
    from hddm.models.text import build_text_encoder

    cache = open_latents_cache(cfg, source, precision)

    @functools.cache
    def encoders():
        vae = VAEEncoder(cfg.vae.pretrained, device, precision)
        try:
            text = build_text_encoder(cfg.text.name, **cfg.text.kwargs).to(device)
        except (RuntimeError, OSError) as error:  # e.g. weights not downloadable (offline)
            raise HddmError(
                f"cannot load the text encoder text={cfg.text.name} ({first_line(error)}): "
                f"set text.kwargs.pretrained=/path/to/local/weights"
            ) from None
        return vae, text

    index = {name: number for number, name in enumerate(source.shard_names())}
    cache.build(
        job_shards(cfg, list(index)),
        lambda name: encode_shard(
            *encoders(),
            source,
            index[name],
            cfg.vae.batch_size,
            cfg.vae.scale_factor,
            DTYPES[cfg.vae.dtype],
            cfg.vae.std_range,
            precision,
        ),
        print_status("latents", time.time()),
    )


def check_complete(cache: ShardedCache, names: list[str], stage: str) -> None:
    missing = cache.missing(names)
    if missing:
        raise HddmError(
            f"{len(missing)} of {len(names)} {stage} shards are not built yet (first: {missing[0]}): "
            f"run the {stage} stage for them (stages=[{stage}]) before clustering"
        )


def check_aligned(features: ShardedCache, latents: ShardedCache, names: list[str]) -> None:
    """The assignment indexes latent rows: every latent shard must hold the same items as its features shard."""
    for name in names:
        record = latents.record(name)
        if record is not None and record["keys_sha256"] != features.record(name)["keys_sha256"]:
            raise HddmError(
                f"latent shard {name} holds other items than its features shard: rebuild both from the same source"
            )


def fit_sample(cache: ShardedCache, names: list[str], cfg: PrepareConfig) -> np.ndarray:
    """The features the fine level is fitted on: all items, or a seeded sample of fit_max_items of them."""
    sizes = [cache.record(name)["rows"] for name in names]
    total = sum(sizes)
    chosen = np.arange(total)
    if total > cfg.cluster.fit_max_items:
        chosen = np.sort(
            np.random.default_rng(cfg.cluster.seed).choice(total, cfg.cluster.fit_max_items, replace=False)
        )
    offsets, parts = np.cumsum([0, *sizes]), []
    for number, name in enumerate(names):
        local = chosen[(chosen >= offsets[number]) & (chosen < offsets[number + 1])] - offsets[number]
        if len(local):
            parts.append(cache.read(name)["features"].float().numpy()[local])
    return np.concatenate(parts)


def assign_all(cache: ShardedCache, names: list[str], model: HierarchicalKMeans) -> np.ndarray:
    """The coarse cluster of every item, shard by shard (features never all in memory)."""
    return np.concatenate([model.assign(cache.read(name)["features"].float().numpy()) for name in names])


def shard_keys(cache: ShardedCache, name: str) -> list[str]:
    with safe_open(str(cache.shard_path(name)), framework="pt") as handle:
        return json.loads(handle.metadata()["keys"])


def grid_images(cache: ShardedCache, source: ImageSource, names: list[str], assignment: np.ndarray, cfg: PrepareConfig):
    """A seeded random sample of each cluster's members, loaded from the source shard by shard."""
    rng = np.random.default_rng(cfg.report.seed)
    offsets = np.cumsum([0, *[cache.record(name)["rows"] for name in names]])
    picks = []
    for cluster in range(cfg.cluster.k):
        members = np.flatnonzero(assignment == cluster)
        picks.append(np.sort(rng.choice(members, min(len(members), cfg.report.samples_per_cluster), replace=False)))
    wanted = np.unique(np.concatenate(picks))
    loaded = {}
    for number in np.unique(np.searchsorted(offsets, wanted, side="right") - 1):  # each shard read once
        keys = shard_keys(cache, names[number])
        row_keys = {
            int(row): keys[row - offsets[number]] for row in wanted if offsets[number] <= row < offsets[number + 1]
        }
        images = source.load(int(number), list(row_keys.values()))
        loaded.update({row: images[key] for row, key in row_keys.items() if key in images})
    return [[loaded[int(row)] for row in rows if int(row) in loaded] for rows in picks]


def cluster_stage(
    cfg: PrepareConfig,
    source: ImageSource,
    data_hash: str,
    labels: dict[str, np.ndarray],
    precision: str,
    run_dir: Path,
) -> dict:
    names = source.shard_names()
    features = open_features_cache(cfg, source, precision)
    check_complete(features, names, "features")
    if cfg.data.space == "latent":
        check_aligned(features, open_latents_cache(cfg, source, precision), names)

    started = time.time()
    model = fit_hierarchical_kmeans(
        fit_sample(features, names, cfg),
        cfg.cluster.k,
        cfg.cluster.fine_k,
        cluster_metric(cfg),
        cfg.cluster.seed,
        cfg.cluster.algorithm,
        cfg.cluster.max_iter,
    )
    fit_seconds = time.time() - started
    assignment = assign_all(features, names, model)
    order = order_by_size(assignment, cfg.cluster.k)
    model, assignment = model.relabeled(order), np.argsort(order)[assignment]
    partition = Partition(
        assignment=torch.from_numpy(assignment),
        num_clusters=cfg.cluster.k,
        method="hierarchical_kmeans",
        dataset=cfg.data.name,
        split=cfg.data.split,
        data_hash=data_hash,
        centroids={
            "coarse_centroids": torch.from_numpy(model.coarse_centroids),
            "fine_centroids": torch.from_numpy(model.fine_centroids),
            "fine_to_coarse": torch.from_numpy(model.fine_to_coarse),
        },
    )
    path = save_partition(Path(cfg.partition_path).expanduser(), partition)
    cluster_seconds = time.time() - started
    return write_report(
        cfg,
        source,
        features,
        names,
        assignment,
        labels,
        model,
        path,
        run_dir,
        {"fit": round(fit_seconds, 1), "fit_and_assign": round(cluster_seconds, 1)},
    )


def command_line() -> str:
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    return " ".join(["python -m hddm.prepare", *overrides])


def write_report(cfg, source, features, names, assignment, labels, model, path, run_dir, seconds) -> dict:
    """labels: metric-only label sets by name (may be empty); the table lists the first one's classes."""
    class_names = pool_of(cfg.data).class_names.get(LABEL_NAME) if is_image_set(cfg.data) else None
    rows = cluster_rows(assignment, cfg.cluster.k, next(iter(labels.values()), None))
    table = markdown_table(rows, class_names)
    run_dir.mkdir(parents=True, exist_ok=True)
    grid = sample_grid(grid_images(features, source, names, assignment, cfg), rows, run_dir / "clusters.png")
    summary = {
        "command": command_line(),
        "dataset": cfg.data.name,
        "split": cfg.data.split,
        "items": int(len(assignment)),
        "k": cfg.cluster.k,
        "fine_k": int(len(model.fine_centroids)),
        "metric": cluster_metric(cfg),
        "features": features.key["extractor"],
        "features_cache": str(features.folder),
        "clusters": rows,
        "purity": {name: overall_purity(assignment, cfg.cluster.k, values) for name, values in labels.items()},
        "partition": str(path),
        "partition_sha256": sha256_file(path),
        "seconds": seconds,
        "grid": str(grid),
    }
    write_json(run_dir / "clusters.json", summary)
    purity = "".join(
        f"\n\nOverall purity against the {name} labels: {value:.1%}" for name, value in summary["purity"].items()
    )
    write_text(
        run_dir / "clusters.md",
        f"# {cfg.data.name}: {cfg.cluster.k} clusters\n\n`{summary['command']}`\n\nfeatures: `{summary['features']}`, "
        f"{summary['fine_k']} fine groups -> {cfg.cluster.k} clusters, {cluster_metric(cfg)} distance, "
        f"{summary['items']} items\n\n{table}{purity}\n",
    )
    data_args = train_data_args(cfg)
    default_path = (
        Path(cfg.data.cache_dir).expanduser() / "partitions" / f"{cfg.data.name}_kmeans{cfg.cluster.k}.safetensors"
    )
    data_args += "" if path == default_path else f"partition.path={path} "
    print(
        f"{table}{purity}\nhddm: assignment file {path}\n  report: {run_dir / 'clusters.md'}, "
        f"{run_dir / 'clusters.json'}, {grid}\n"
        f"  train an expert: python -m hddm.train {data_args}partition=file partition.num_clusters={cfg.cluster.k} "
        f"cluster=<0..{cfg.cluster.k - 1}>",
        flush=True,
    )
    return summary


def train_data_args(cfg: PrepareConfig) -> str:
    """The `data` overrides with which hddm.train reads what this command prepared."""
    if cfg.data.space == "latent":
        return f"data={cfg.data.name} data.shard_dir={cfg.data.shard_dir} text={cfg.text.name} "
    if is_image_set(cfg.data):
        return (
            f"data=images data.name={cfg.data.name} data.channels={cfg.data.channels} "
            f"data.image_size={cfg.data.image_size} "
        )
    return f"data={cfg.data.name} "


def prepare(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg = validate_prepare_config(dict_cfg)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if "pixels" in cfg.stages:
        if is_image_set(cfg.data):
            pixels_stage(cfg)
        else:
            print(f"hddm: pixels: skipped (data={cfg.data.name} is not data=images)", flush=True)
    source, data_hash, labels = open_source(cfg)
    result: dict = {"shards": len(source.shard_names())}
    if "features" in cfg.stages:
        features_stage(cfg, source, device, precision)
    if "latents" in cfg.stages:
        if cfg.data.space == "latent":
            latents_stage(cfg, source, device, precision)
        else:
            print(f"hddm: latents: skipped (data={cfg.data.name} trains on pixels)", flush=True)
    if "classifier" in cfg.stages and is_image_set(cfg.data):
        classifier_stage(cfg)
    if "cluster" in cfg.stages:
        if cfg.num_shards > 1:
            print(
                "hddm: cluster: skipped in per-shard jobs; once every shard is done run it once with stages=[cluster]",
                flush=True,
            )
        else:
            result.update(cluster_stage(cfg, source, data_hash, labels, precision, run_dir))
    return result


register_prepare_configs()


# Never skipped as done: its outputs live in the cache, which checks itself (and may have been cleared).
main = hydra_command("prepare", prepare, validate_prepare_config, skip_done=False)


if __name__ == "__main__":
    main()
