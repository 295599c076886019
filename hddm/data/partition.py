"""Cluster assignment files: which cluster each item of a dataset split belongs to.

One safetensors file: tensor `assignment` (int64 [N]) and, when the partition comes from clustering,
`coarse_centroids` [K, D], `fine_centroids` [F, D] and `fine_to_coarse` [F]; string metadata says what made it
(method, dataset, split, number of clusters, hash of the data it indexes). The clustering pipeline and the
deterministic rule of the embedded default write the same format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open

from hddm.errors import HddmError
from hddm.io import save_safetensors

FORMAT = "hddm.partition/1"


@dataclass
class Partition:
    assignment: torch.Tensor  # int64 [N]
    num_clusters: int
    method: str
    dataset: str
    split: str
    data_hash: str
    centroids: dict[str, torch.Tensor] = field(default_factory=dict)

    def indices(self, cluster: int) -> np.ndarray:
        if not 0 <= cluster < self.num_clusters:
            raise HddmError(
                f"cluster {cluster} is not in the assignment file ({self.num_clusters} clusters): use "
                f"cluster=0..{self.num_clusters - 1}"
            )
        members = torch.nonzero(self.assignment == cluster).flatten().numpy()
        if members.size == 0:
            raise HddmError(f"cluster {cluster} has no members in this partition: choose a non-empty cluster")
        return members

    def sizes(self) -> list[int]:
        return torch.bincount(self.assignment, minlength=self.num_clusters).tolist()


def same_partition(a: Partition, b: Partition) -> bool:
    fields = ("num_clusters", "method", "dataset", "split", "data_hash")
    return (
        all(getattr(a, f) == getattr(b, f) for f in fields)
        and torch.equal(a.assignment, b.assignment)
        and a.centroids.keys() == b.centroids.keys()
        and all(torch.equal(a.centroids[k], b.centroids[k]) for k in a.centroids)
    )


def save_partition(path: str | Path, partition: Partition) -> Path:
    """Write the assignment file, unless the file there already holds this partition: then its bytes, and so the
    sha256 every expert and router trained on it records, stay as they are."""
    if Path(path).is_file():
        try:
            if same_partition(load_partition(path), partition):
                return Path(path)
        except HddmError:
            pass  # unreadable: rewritten below
    tensors = {"assignment": partition.assignment.to(torch.int64).contiguous(), **partition.centroids}
    metadata = {
        "format": FORMAT,
        "num_clusters": str(partition.num_clusters),
        "method": partition.method,
        "dataset": partition.dataset,
        "split": partition.split,
        "data_hash": partition.data_hash,
    }
    return save_safetensors(path, tensors, metadata)


def load_partition(path: str | Path) -> Partition:
    path = Path(path)
    if not path.is_file():
        raise HddmError(
            f"assignment file {path} not found: cluster the data first (python -m hddm.prepare) or set "
            "partition.path=<assignment file>"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise HddmError(
            f"assignment file {path} is corrupt ({error}): delete it and re-run the step that writes it"
        ) from None
    if metadata.get("format") != FORMAT or "assignment" not in tensors:
        raise HddmError(
            f"{path} is not an hddm assignment file (format {metadata.get('format')!r}): point partition.path at one"
        )
    assignment = tensors.pop("assignment")
    return Partition(
        assignment=assignment,
        num_clusters=int(metadata["num_clusters"]),
        method=metadata["method"],
        dataset=metadata["dataset"],
        split=metadata["split"],
        data_hash=metadata["data_hash"],
        centroids=tensors,
    )


def label_rule_partition(labels: np.ndarray, num_clusters: int, dataset: str, split: str, data_hash: str) -> Partition:
    """The deterministic stand-in until features are clustered: cluster = label mod K."""
    assignment = torch.from_numpy(np.asarray(labels, dtype=np.int64) % num_clusters)
    return Partition(assignment, num_clusters, "label_mod_k", dataset, split, data_hash)
