"""Image sources for hddm.prepare, read shard by shard so millions of images never sit in memory at once.

Every source cuts its items into shards in a fixed order and yields batches of uint8 images [B, C, H, W];
a shard of every cache (features, latents) holds exactly the items of the source shard of the same name,
which keeps the rows of all caches, the assignment file and LatentShardDataset aligned.

* ArraySource: images already in memory (the embedded MNIST pool), with labels.
* CaptionFolderSource: a folder of images plus captions.jsonl ({"image": "<relative path>", "caption": "...",
  optionally "label": "<class name>"} per line) or captions.tsv (<relative path><TAB><caption>[<TAB><class name>]);
  shard s holds lines [s*S, (s+1)*S).
* TarShardSource: webdataset-style .tar shards (members <key>.jpg|jpeg|png|webp + <key>.txt or <key>.json
  with a "caption" and optionally a "label"), streamed with the standard tarfile module; one cache shard per tar.

Real images are centre-cropped to a square and resized to `image_size` (256: the VAE's input, 32x32 latents),
in RGB or, with channels=1, grey. Class labels, where a source has them, are class names (ImageBatch.classes).
An image that fails to decode is skipped (the same way in every stage) and counted.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import tarfile
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hddm.errors import HddmError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
CAPTION_FILES = ("captions.jsonl", "captions.tsv")


@dataclass
class ImageBatch:
    keys: list[str]  # stable item ids within the source (index, relative path or tar key)
    images: torch.Tensor  # uint8 [B, C, H, W]
    captions: list[str] | None = None
    labels: torch.Tensor | None = None  # int64 [B], where the data has class labels
    skipped: int = 0  # items of this batch that failed to decode
    classes: list[str | None] | None = None  # class names, where a captioned source labels its items


class ImageSource(ABC):
    fingerprint: str  # identifies the content and its cut into shards cheaply; part of every cache key
    resolution: int
    crop: str

    @abstractmethod
    def shard_names(self) -> list[str]: ...

    @abstractmethod
    def iter_shard(self, index: int, batch_size: int) -> Iterator[ImageBatch]: ...

    @abstractmethod
    def load(self, index: int, keys: list[str]) -> dict[str, torch.Tensor]:
        """uint8 images of the given items of one shard, by key (for sample grids)."""


def shard_name(index: int) -> str:
    return f"shard-{index:06d}"


def center_crop_resize(image: Image.Image, size: int, channels: int = 3) -> torch.Tensor:
    """Square centre crop, then a high-quality resize: uint8 [channels, size, size] (3: RGB, 1: grey)."""
    image = image.convert("L" if channels == 1 else "RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(image).copy())
    return pixels[None] if channels == 1 else pixels.permute(2, 0, 1)


def decode(data: bytes | Path, size: int, channels: int = 3) -> torch.Tensor | None:
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return center_crop_resize(image, size, channels)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def stack(keys, images, captions=None, labels=None, classes=None) -> ImageBatch:
    """Drop undecodable items and stack the rest."""
    kept = [i for i, image in enumerate(images) if image is not None]
    return ImageBatch(
        keys=[keys[i] for i in kept],
        images=torch.stack([images[i] for i in kept]) if kept else torch.empty(0, 3, 0, 0, dtype=torch.uint8),
        captions=[captions[i] for i in kept] if captions is not None else None,
        labels=labels[kept] if labels is not None else None,
        skipped=len(images) - len(kept),
        classes=[classes[i] for i in kept] if classes is not None else None,
    )


class ArraySource(ImageSource):
    """uint8 [N, H, W] or [N, C, H, W] images in memory, cut into shards of shard_size items."""

    crop = "none"

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, fingerprint: str, shard_size: int):
        self.images = torch.from_numpy(images[:, None] if images.ndim == 3 else images)
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        self.shard_size, self.resolution = shard_size, self.images.shape[-1]
        self.fingerprint = f"{fingerprint}:n{len(self.images)}:shard{shard_size}"

    def shard_names(self) -> list[str]:
        return [shard_name(i) for i in range(-(-len(self.images) // self.shard_size))]

    def iter_shard(self, index, batch_size):
        end = min((index + 1) * self.shard_size, len(self.images))
        for start in range(index * self.shard_size, end, batch_size):
            stop = min(start + batch_size, end)
            labels = None if self.labels is None else self.labels[start:stop]
            yield ImageBatch([str(i) for i in range(start, stop)], self.images[start:stop], None, labels)

    def load(self, index, keys):
        return {key: self.images[int(key)] for key in keys}


class CaptionFolderSource(ImageSource):
    crop = "center-square"

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        shard_size: int,
        limit: int | None = None,
        workers: int = 8,
        channels: int = 3,
    ):
        self.root, self.channels = Path(root).expanduser(), channels
        self.captions_file = next((self.root / name for name in CAPTION_FILES if (self.root / name).is_file()), None)
        if self.captions_file is None:
            raise HddmError(
                f"no {' or '.join(CAPTION_FILES)} in {self.root}: add one or point source.path at the folder that has "
                "it"
            )
        self.resolution, self.shard_size, self.workers = image_size, shard_size, workers
        digest, count = hashlib.sha256(), 0
        with open(self.captions_file, "rb") as handle:  # one streaming pass: size and content hash
            for line in handle:
                digest.update(line)
                count += bool(line.strip())
        self.count = count if limit is None else min(count, limit)
        self.fingerprint = f"{self.captions_file.name}:{digest.hexdigest()[:16]}:n{self.count}:shard{shard_size}"

    def _entries(self, start: int, stop: int) -> list[tuple[str, str, str | None]]:
        with open(self.captions_file, encoding="utf-8") as handle:
            lines = itertools.islice((line for line in handle if line.strip()), start, stop)
            return [self._parse(line, start + offset) for offset, line in enumerate(lines)]

    def _parse(self, line: str, number: int) -> tuple[str, str, str | None]:
        """(relative image path, caption, class name or None)."""
        try:
            if self.captions_file.suffix == ".jsonl":
                record = json.loads(line)
                label = record.get("label")
                return str(record["image"]), str(record["caption"]), None if label is None else str(label)
            path, caption, *label = line.rstrip("\n").split("\t", 2)
            return path, caption, label[0] if label else None
        except (ValueError, KeyError, TypeError, AttributeError):
            expected = (
                '{"image": ..., "caption": ..., "label": ... (optional)}'
                if self.captions_file.suffix == ".jsonl"
                else "path<TAB>caption[<TAB>label]"
            )
            raise HddmError(f"{self.captions_file} item {number + 1} is malformed: write it as {expected}") from None

    def shard_names(self):
        return [shard_name(i) for i in range(-(-self.count // self.shard_size))]

    def iter_shard(self, index, batch_size):
        entries = self._entries(index * self.shard_size, min((index + 1) * self.shard_size, self.count))
        with ThreadPoolExecutor(self.workers) as pool:  # PIL releases the GIL while decoding and resizing
            for start in range(0, len(entries), batch_size):
                chunk = entries[start : start + batch_size]
                images = list(
                    pool.map(lambda entry: decode(self.root / entry[0], self.resolution, self.channels), chunk)
                )
                keys, captions, classes = (list(column) for column in zip(*chunk))
                yield stack(keys, images, captions, classes=classes)

    def load(self, index, keys):
        return {
            key: image for key in keys if (image := decode(self.root / key, self.resolution, self.channels)) is not None
        }


class TarShardSource(ImageSource):
    crop = "center-square"

    def __init__(self, root: str | Path, image_size: int, channels: int = 3):
        root, self.channels = Path(root).expanduser(), channels
        self.tars = sorted(root.glob("*.tar")) if root.is_dir() else []
        if not self.tars:
            raise HddmError(f"no .tar shards in {root}: point source.path at a folder of webdataset .tar files")
        self.resolution = image_size
        listing = "\n".join(f"{tar.name}:{tar.stat().st_size}" for tar in self.tars)
        self.fingerprint = f"tars:{hashlib.sha256(listing.encode()).hexdigest()[:16]}:n{len(self.tars)}"

    def shard_names(self):
        return [shard_name(i) for i in range(len(self.tars))]

    def samples(self, index: int) -> Iterator[tuple[str, bytes | None, str | None, str | None]]:
        """(key, image bytes, caption, class name) per sample; the files of one sample are adjacent in a
        webdataset tar."""
        key, image, caption, label = None, None, None, None
        with tarfile.open(self.tars[index], mode="r|*") as archive:  # streaming: no seeking, no index in memory
            for member in archive:
                if not member.isfile():
                    continue
                folder, _, base = member.name.rpartition("/")
                stem, _, extension = base.partition(".")
                stem = f"{folder}/{stem}" if folder else stem
                if stem != key:
                    if key is not None:
                        yield key, image, caption, label
                    key, image, caption, label = stem, None, None, None
                data = archive.extractfile(member).read()
                if extension.lower() in IMAGE_EXTENSIONS:
                    image = data
                elif extension == "txt":
                    caption = data.decode("utf-8", errors="replace").strip()
                elif extension == "json":
                    record = json.loads(data)
                    caption = caption if caption is not None else str(record.get("caption", ""))
                    label = None if record.get("label") is None else str(record["label"])
            if key is not None:
                yield key, image, caption, label

    def iter_shard(self, index, batch_size):
        complete = (sample for sample in self.samples(index) if sample[1] is not None)
        while chunk := list(itertools.islice(complete, batch_size)):
            images = [decode(image, self.resolution, self.channels) for _, image, _, _ in chunk]
            classes = [label for _, _, _, label in chunk]
            yield stack([k for k, _, _, _ in chunk], images, [c or "" for _, _, c, _ in chunk], classes=classes)

    def load(self, index, keys):
        wanted = set(keys)
        return {
            key: decoded
            for key, image, _, _ in self.samples(index)
            if key in wanted
            and image is not None
            and (decoded := decode(image, self.resolution, self.channels)) is not None
        }


def open_folder_source(
    path: str | Path, image_size: int, shard_size: int, limit: int | None, workers: int, channels: int = 3
) -> ImageSource:
    """A caption-file folder or a folder of tar shards, whichever `path` holds."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise HddmError(
            f"source.path {root} is not a folder: point it at images + captions.jsonl/.tsv or at .tar shards"
        )
    if any((root / name).is_file() for name in CAPTION_FILES):
        return CaptionFolderSource(root, image_size, shard_size, limit, workers, channels)
    if limit is not None:
        raise HddmError(
            "limit= works with MNIST and caption-file folders: for tar shards, point source.path at fewer tars"
        )
    return TarShardSource(root, image_size, channels)
