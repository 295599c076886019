"""Files that are hashed are written byte-identically for the same content, in every process."""

import subprocess
import sys

import torch
from safetensors import safe_open

from hddm.io import save_safetensors

WRITE = """
import sys, torch
from hddm.data.partition import Partition, save_partition
partition = Partition(torch.arange(12) % 3, 3, "hierarchical_kmeans", "styled_digits", "trainval", "ab" * 32)
partition.centroids["coarse_centroids"] = torch.eye(3)
save_partition(sys.argv[1], partition)
"""


def test_partition_files_are_byte_identical_across_processes(tmp_path):
    """safetensors writes metadata in a per-process hash order; six keys give 720 orders, so two processes would
    almost surely differ without the sorted header."""
    paths = [tmp_path / f"partition{i}.safetensors" for i in range(3)]
    for path in paths:
        subprocess.run([sys.executable, "-c", WRITE, str(path)], check=True)
    assert len({path.read_bytes() for path in paths}) == 1


def test_deterministic_safetensors_read_back_unchanged(tmp_path):
    tensors = {"b": torch.arange(5.0), "a": torch.ones(2, 3, dtype=torch.int64)}
    metadata = {"z": "last", "a": "first", "é": "non-ascii"}
    save_safetensors(tmp_path / "x.safetensors", tensors, metadata)
    with safe_open(tmp_path / "x.safetensors", "pt") as handle:
        assert handle.metadata() == metadata
        assert all(torch.equal(handle.get_tensor(k), v) for k, v in tensors.items())


def test_writing_the_same_partition_again_keeps_the_file_as_it_is(tmp_path):
    """A file written earlier (by another version, in another byte order) keeps its sha256 when hddm.prepare re-runs."""
    import os

    from hddm.data.partition import Partition, load_partition, save_partition

    partition = Partition(torch.arange(12) % 3, 3, "hierarchical_kmeans", "styled_digits", "trainval", "ab" * 32)
    path = save_partition(tmp_path / "p.safetensors", partition)
    os.utime(path, (0, 0))
    save_partition(path, load_partition(path))
    assert path.stat().st_mtime == 0
    save_partition(
        path, Partition(torch.arange(12) % 4, 4, "hierarchical_kmeans", "styled_digits", "trainval", "ab" * 32)
    )
    assert path.stat().st_mtime > 0 and load_partition(path).num_clusters == 4
