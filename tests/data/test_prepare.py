"""hddm.prepare end to end: the embedded MNIST default via the CLI, real-scale image-caption data in process."""

import json

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli, save_tiny_vae
from safetensors import safe_open
from test_features import TINY_VIT

from hddm.data import mnist
from hddm.data.datasets import LatentShardDataset
from hddm.data.partition import load_partition
from hddm.errors import HddmError
from hddm.prepare import prepare


def test_cli_clusters_mnist_into_the_file_training_reads(cache_dir, tmp_path, compose):
    run = tmp_path / "run"
    result = run_cli(
        [
            "hddm.prepare",
            "limit=2000",
            "cluster.k=4",
            "cluster.fine_k=32",
            "features.cnn_steps=20",
            "source.shard_size=1000",
            f"hydra.run.dir={run}",
        ],
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| cluster | size | share | top classes (share) | purity |" in result.stdout

    path = cache_dir / "partitions" / "mnist_kmeans4.safetensors"
    train_cfg = compose(["partition=file", "partition.num_clusters=4"])
    assert train_cfg.partition.path == str(path)  # the path `python -m hddm.train partition=file` reads
    partition = load_partition(path)
    images, _ = mnist.load_split(cache_dir, "train")
    assert partition.method == "hierarchical_kmeans" and partition.num_clusters == 4 and partition.split == "trainval"
    assert partition.assignment.dtype == torch.int64 and partition.assignment.shape == (2000,)
    assert partition.data_hash == mnist.split_hash(images[:2000])  # limit=2000: the first 2000 pool items
    assert partition.centroids["coarse_centroids"].shape == (4, 128) and partition.centroids[
        "fine_centroids"
    ].shape == (32, 128)
    fine_to_coarse = partition.centroids["fine_to_coarse"]
    assert (
        fine_to_coarse.dtype == torch.int64
        and fine_to_coarse.shape == (32,)
        and set(fine_to_coarse.tolist()) <= {0, 1, 2, 3}
    )
    sizes = partition.sizes()
    assert sum(sizes) == 2000 and sizes == sorted(sizes, reverse=True)  # cluster 0 is the largest

    summary = json.loads((run / "clusters.json").read_text())
    assert [row["size"] for row in summary["clusters"]] == sizes
    assert all(0 < row["purity"] <= 1 for row in summary["clusters"]) and 0 < summary["purity"]["digit"] <= 1
    assert summary["features"].startswith("mnist-cnn/") and summary["fine_k"] == 32
    assert (
        summary["command"] == "python -m hddm.prepare limit=2000 cluster.k=4 cluster.fine_k=32 features.cnn_steps=20 "
        "source.shard_size=1000"
    )
    assert (run / "clusters.png").stat().st_size > 0 and "purity" in (run / "clusters.md").read_text()


def test_cli_bad_option_is_one_line_and_exit_2(tmp_path):
    result = run_cli(["hddm.prepare", "cluster.metric=manhattan", f"hydra.run.dir={tmp_path}"], cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hddm: error: cluster.metric=manhattan is not an option: choose one of auto, cosine, euclidean "
        "(cluster.metric=<option>)"
    ]


def test_shard_jobs_then_one_clustering(compose, cache_dir, tmp_path):
    base = [
        "limit=600",
        "source.shard_size=200",
        "features.name=pixels",
        "cluster.k=3",
        "cluster.fine_k=12",
        "partition_path=" + str(tmp_path / "p.safetensors"),
    ]
    compose_prepare = lambda extra: compose([*base, *extra], config_name="prepare")  # noqa: E731
    prepare(compose_prepare(["stages=[features,cluster]", "num_shards=2", "shard_index=0"]), tmp_path / "job0")
    assert not (tmp_path / "p.safetensors").exists()  # per-shard jobs never cluster
    with pytest.raises(HddmError, match=r"1 of 3 features shards are not built yet \(first: shard-000001\)"):
        prepare(compose_prepare(["stages=[cluster]"]), tmp_path / "early")
    prepare(compose_prepare(["stages=[features]", "num_shards=2", "shard_index=1"]), tmp_path / "job1")
    summary = prepare(compose_prepare(["stages=[cluster]"]), tmp_path / "cluster")
    first = load_partition(tmp_path / "p.safetensors")
    assert summary["items"] == 600 and first.assignment.shape == (600,)
    again = prepare(compose_prepare(["stages=[features,cluster]"]), tmp_path / "again")  # features all cached
    second = load_partition(tmp_path / "p.safetensors")
    assert again["clusters"] == summary["clusters"] and torch.equal(second.assignment, first.assignment)
    for name, centroids in first.centroids.items():  # deterministic clustering, bit for bit
        assert torch.equal(second.centroids[name], centroids), name


@pytest.fixture
def image_caption_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    with open(folder / "captions.jsonl", "w") as handle:
        for i in range(10):
            size = (int(rng.integers(40, 90)), int(rng.integers(40, 90)))
            Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
            handle.write(json.dumps({"image": f"img{i}.png", "caption": f"picture number {i}"}) + "\n")
    return folder


def test_real_scale_pipeline_with_small_random_networks(compose, cache_dir, tmp_path, image_caption_folder):
    shards = tmp_path / "shards"
    overrides = [
        "data=latents",
        f"data.shard_dir={shards}",
        f"source.path={image_caption_folder}",
        "source.image_size=64",
        "source.shard_size=4",
        "features.model=vit_small_patch14_dinov2",
        "features.weights=none",
        "features.input_size=56",
        f"+features.model_kwargs={{{','.join(f'{k}:{v}' for k, v in TINY_VIT.items())}}}",
        f"vae.pretrained={save_tiny_vae(tmp_path / 'vae')}",
        "text=minilm",
        "cluster.k=2",
        "cluster.fine_k=4",
    ]
    with pytest.raises(HddmError, match="latent std"):  # a random VAE's latents are far from unit std
        prepare(compose(overrides, config_name="prepare"), tmp_path / "run")
    summary = prepare(compose([*overrides, "vae.std_range=null"], config_name="prepare"), tmp_path / "run")

    dataset = LatentShardDataset(shards)  # the training's reader, rows in sorted shard order
    assert len(dataset) == 10 == summary["items"]
    item = dataset[9]
    assert item["x"].shape == (4, 8, 8) and item["text"].shape == (16, 384) and item["text_mask"].dtype == torch.bool
    with safe_open(str(shards / "shard-000002.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["keys"]) == ["img8.png", "img9.png"] and metadata["scale_factor"] == "0.18215"
    partition = load_partition(cache_dir / "partitions" / "latents_kmeans2.safetensors")
    assert partition.assignment.shape == (10,) and partition.dataset == "latents"
    assert partition.centroids["coarse_centroids"].shape == (2, 32) and partition.centroids["fine_centroids"].shape == (
        4,
        32,
    )
    assert "purity" not in summary["clusters"][0] and summary["features"].startswith(
        "timm/vit_small_patch14_dinov2/none"
    )
    assert (tmp_path / "run" / "clusters.png").is_file()

    with pytest.raises(HddmError, match=r"caches other settings \(scale_factor differ\)"):
        prepare(
            compose([*overrides, "vae.std_range=null", "vae.scale_factor=0.13025"], config_name="prepare"),
            tmp_path / "run2",
        )
