"""`data=images`: a researcher's own pixel-space images (any channels and size), prepared once into shards.

`python -m hddm.prepare data=images data.name=<name> source.path=<source>` reads one of
  * an `.npz` with `images` (uint8 [N, H, W], [N, H, W, C] or [N, C, H, W]), `labels` (int [N]) and `class_names`
    ([K] strings); optional `captions` ([N] strings), else each caption is data.caption_template of the class name;
  * a folder with captions.jsonl / captions.tsv (hddm.data.image_captions; an optional "label" per item);
  * a folder of webdataset .tar shards (a "label" in each item's .json, optional);
  * a folder of class folders (<class name>/<image>), captions from the template,
and writes <data.shard_dir>/shard-NNNNNN.safetensors (images uint8 [n, C, H, W], labels int64 [n], -1 where an
item has none; captions in the metadata) plus dataset.json (classes, the held-out test rows, every shard's
sha256). Training, clustering and the metrics read the shards back as one in-memory PixelPool: pixel-space data
at the sizes a DiT trains on directly fits in memory, as MNIST does.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open

from hddm.data.image_captions import (
    CAPTION_FILES,
    IMAGE_EXTENSIONS,
    center_crop_resize,
    decode,
    open_folder_source,
    shard_name,
)
from hddm.data.mnist import split_hash
from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json

FORMAT = "hddm.images/1"
INDEX = "dataset.json"
LABEL_NAME = "class"  # the pool's label set: what the metric classifier and the class-conditional metrics read
SPLITS = ("trainval", "test", "all")
CLASSIFIER_FOLDER = "metric_classifier"  # the set's metric classifier (hddm.models.metric_classifier), beside it


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, C, H, W]
    captions: list[str]
    labels: np.ndarray | None  # int64 [N] into class_names, -1: unlabelled item
    class_names: list[str]
    source: str  # what was read, for the record


def caption_of(template: str, name: str) -> str:
    return template.format(label=name)


def to_nchw(images: np.ndarray, channels: int, size: int, path: Path) -> np.ndarray:
    """uint8 [N, H, W] / [N, H, W, C] / [N, C, H, W] (C 1, 3 or 4) -> [N, channels, size, size]: converted,
    centre-cropped and resized like every other source (image_captions.center_crop_resize)."""
    counts = (1, 3, 4)
    if (
        images.dtype != np.uint8
        or images.ndim not in (3, 4)
        or (images.ndim == 4 and images.shape[1] not in counts and images.shape[-1] not in counts)
    ):
        raise HddmError(
            f"{path}: `images` must be uint8 [N, H, W], [N, H, W, C] or [N, C, H, W] with C 1, 3 or 4, got "
            f"{images.dtype} {list(images.shape)}: convert them (e.g. (x * 255).round().astype(np.uint8))"
        )
    if images.ndim == 3:
        images = images[:, None]
    elif images.shape[1] not in counts:
        images = images.transpose(0, 3, 1, 2)
    if images.shape[1:] == (channels, size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), channels, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[0] if len(image) == 1 else image.transpose(1, 2, 0))
        out[i] = center_crop_resize(picture, size, channels).numpy()
    return out


def read_npz(path: Path, channels: int, size: int, template: str) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as archive:  # never unpickle: object arrays are refused
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise HddmError(
            f"cannot read {path} ({str(error).splitlines()[0]}): write it with np.savez(images=..., labels=..., "
            "class_names=np.array([...])) and plain string arrays, no objects"
        ) from None
    missing = [name for name in ("images", "labels", "class_names") if name not in arrays]
    if missing:
        raise HddmError(f"{path} has no {missing[0]!r} array: it needs images, labels and class_names (see README)")
    class_names = [str(name) for name in arrays["class_names"].tolist()]
    labels = arrays["labels"].astype(np.int64).reshape(-1)
    if len(labels) != len(arrays["images"]) or labels.min() < 0 or labels.max() >= len(class_names):
        raise HddmError(
            f"{path}: labels must be one integer in 0..{len(class_names) - 1} (an index into class_names) per image"
        )
    captions = (
        [str(c) for c in arrays["captions"].tolist()]
        if "captions" in arrays
        else [caption_of(template, class_names[label]) for label in labels]
    )
    return ImageSet(to_nchw(arrays["images"], channels, size, path), captions, labels, class_names, path.name)


def read_class_folders(root: Path, channels: int, size: int, template: str) -> ImageSet:
    folders = sorted(d for d in root.iterdir() if d.is_dir())
    images, captions, labels = [], [], []
    for label, folder in enumerate(folders):
        for file in sorted(f for f in folder.iterdir() if f.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS):
            if (image := decode(file, size, channels)) is not None:
                images.append(image.numpy())
                captions.append(caption_of(template, folder.name))
                labels.append(label)
    if not images:
        raise HddmError(f"no readable images in the class folders of {root}: put them in <class name>/<image>.png")
    names = [folder.name for folder in folders]
    return ImageSet(np.stack(images), captions, np.array(labels, dtype=np.int64), names, f"class folders {root}")


def read_captioned(root: Path, channels: int, size: int) -> ImageSet:
    """A caption-file folder or .tar shards: every item read, class names (where given) indexed in sorted order."""
    source = open_folder_source(root, size, shard_size=10_000, limit=None, workers=8, channels=channels)
    images, captions, classes = [], [], []
    for index in range(len(source.shard_names())):
        for batch in source.iter_shard(index, 256):
            images.append(batch.images.numpy())
            captions += batch.captions
            classes += batch.classes or [None] * len(batch.captions)
    if not captions:
        raise HddmError(f"no readable images in {root}: check the paths in its captions file or its .tar shards")
    names = sorted({c for c in classes if c is not None})
    labels = np.array([names.index(c) if c is not None else -1 for c in classes], dtype=np.int64) if names else None
    return ImageSet(np.concatenate(images), captions, labels, names, f"{source.fingerprint} in {root}")


def read_source(path: str, channels: int, size: int, template: str) -> ImageSet:
    root = Path(path).expanduser()
    if root.is_file() and root.suffix == ".npz":
        return read_npz(root, channels, size, template)
    if not root.is_dir():
        raise HddmError(
            f"source.path={path} is neither an .npz file nor a folder: point it at your images (README: your own data)"
        )
    if not any((root / name).is_file() for name in CAPTION_FILES) and not any(root.glob("*.tar")):
        if any(d.is_dir() for d in root.iterdir()):
            return read_class_folders(root, channels, size, template)
    return read_captioned(root, channels, size)


def test_rows(count: int, fraction: float, seed: int) -> np.ndarray:
    """The held-out rows (sorted): a seeded share of the items, at least one, never all."""
    held = min(count - 1, max(1, round(count * fraction))) if fraction > 0 else 0
    return np.sort(np.random.default_rng(seed).permutation(count)[:held])


def write_image_set(out_dir: Path, data: ImageSet, shard_size: int, test_fraction: float, seed: int) -> dict:
    """Shards, then the index last: an interrupted write leaves no index, so nothing reads half a set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INDEX).unlink(missing_ok=True)
    shutil.rmtree(out_dir / CLASSIFIER_FOLDER, ignore_errors=True)  # it knew the old set's classes and rows
    labels = data.labels if data.labels is not None else np.full(len(data.images), -1, dtype=np.int64)
    shards = []
    for number, start in enumerate(range(0, len(data.images), shard_size)):
        stop = min(start + shard_size, len(data.images))
        path = out_dir / f"{shard_name(number)}.safetensors"
        tensors = {"images": torch.from_numpy(data.images[start:stop]), "labels": torch.from_numpy(labels[start:stop])}
        save_safetensors(path, tensors, {"captions": json.dumps(data.captions[start:stop])})
        shards.append({"file": path.name, "rows": stop - start, "sha256": sha256_file(path)})
    held = test_rows(len(data.images), test_fraction, seed)
    index = {
        "format": FORMAT,
        "count": int(len(data.images)),
        "channels": int(data.images.shape[1]),
        "image_size": int(data.images.shape[-1]),
        "class_names": data.class_names,
        "labelled": int((labels >= 0).sum()),
        "test_rows": held.tolist(),
        "test_fraction": test_fraction,
        "split_seed": seed,
        "source": data.source,
        "data_hash": split_hash(data.images),
        "shards": shards,
    }
    write_json(out_dir / INDEX, index)
    return index


def read_index(shard_dir: str | Path) -> dict:
    path = Path(shard_dir).expanduser() / INDEX
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        raise HddmError(
            f"no prepared image set in {path.parent}: run python -m hddm.prepare data=images data.name=<name> "
            "source.path=<your images> first"
        ) from None
    if index.get("format") != FORMAT:
        raise HddmError(f"{path} is not an hddm image set ({FORMAT}): prepare the data again")
    return index


def load_split(shard_dir: str, split: str) -> ImageSet:
    """A split of a prepared set at its own channels and size (the metrics' reference, the floors' real images)."""
    index = read_index(shard_dir)
    return load_image_set(str(shard_dir), index["channels"], index["image_size"], split)[0]


@lru_cache(maxsize=2)
def load_image_set(shard_dir: str, channels: int, image_size: int, split: str) -> tuple[ImageSet, str]:
    """(the split's items, the data hash of that split's images); every shard checked against its sha256."""
    if split not in SPLITS:
        raise HddmError(f"data.split={split} is not a split of a prepared image set: choose one of {list(SPLITS)}")
    index = read_index(shard_dir)
    if (index["channels"], index["image_size"]) != (channels, image_size):
        raise HddmError(
            f"the image set in {shard_dir} holds {index['channels']}x{index['image_size']}x{index['image_size']} "
            f"images: set data.channels={index['channels']} data.image_size={index['image_size']}"
        )
    images, labels, captions = [], [], []
    for shard in index["shards"]:
        path = Path(shard_dir).expanduser() / shard["file"]
        if not path.is_file() or sha256_file(path) != shard["sha256"]:
            raise HddmError(f"{path} is missing or changed since it was written: prepare the data again")
        with safe_open(str(path), framework="np") as handle:
            images.append(handle.get_tensor("images"))
            labels.append(handle.get_tensor("labels"))
            captions += json.loads(handle.metadata()["captions"])
    rows = np.arange(index["count"])
    held = np.isin(rows, index["test_rows"])
    keep = rows if split == "all" else rows[held] if split == "test" else rows[~held]
    images, labels = np.concatenate(images)[keep], np.concatenate(labels)[keep]
    chosen = ImageSet(
        images,
        [captions[i] for i in keep],
        labels if index["labelled"] else None,
        index["class_names"],
        index["source"],
    )
    return chosen, split_hash(images)


def wanted_class(prompt: str, class_names: list[str]) -> int | None:
    """The class a prompt names (whole words, case-insensitive; the longest name wins: "sports car" over "car")."""
    found = [
        (len(name), index)
        for index, name in enumerate(class_names)
        if re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", prompt.lower())
    ]
    return max(found)[1] if found else None


def class_captions(images: ImageSet) -> dict[int, str]:
    """Per class present, its most common caption among those that name it (so a metric can tell which class a
    prompt asks for), else the class name itself: the prompts that ask for each class in the data's own words."""
    if images.labels is None:
        return {}
    prompts = {}
    for label, name in enumerate(images.class_names):
        mine = [c for c, y in zip(images.captions, images.labels) if y == label]
        naming = [c for c in mine if wanted_class(c, images.class_names) == label]
        if mine:
            values, counts = np.unique(np.array(naming or [name], dtype=str), return_counts=True)
            prompts[label] = str(values[counts.argmax()])
    return prompts
