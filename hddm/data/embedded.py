"""Pixel-space data as one in-memory pool, the same for training, clustering and metrics: the embedded datasets
(MNIST, styled digits) and a researcher's own prepared image set (data=images, hddm.data.image_set)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hddm.data import mnist, styled_digits
from hddm.data.image_set import LABEL_NAME, load_image_set
from hddm.errors import HddmError

EMBEDDED = ("mnist", "styled_digits")


@dataclass(frozen=True)
class PixelPool:
    images: np.ndarray  # uint8 [N, C, H, W]
    labels: dict[str, np.ndarray]  # metric-only labels by name; the first is what cluster tables list
    prompts: list[str]  # every caption the pool uses
    caption: np.ndarray  # int64 [N]: row i's caption is prompts[caption[i]]
    data_hash: str  # content hash of the images: what a partition of this pool is tied to
    class_names: dict[str, list[str]] = field(default_factory=dict)  # per label set, where its classes have names


def mnist_pool(cache_dir: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of MNIST: 'trainval' joins the 50k train and 10k val images (60k)."""
    parts = [mnist.load_split(cache_dir, s) for s in (("train", "val") if split == "trainval" else (split,))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@lru_cache(maxsize=2)  # one read and hash per process: a training job asks for its pool twice (partition, dataset)
def load_pool(
    name: str,
    cache_dir: str,
    split: str,
    domains: tuple[str, ...] | None = None,
    render_seed: int = 0,
    domain_caption_share: float = 0.5,
) -> PixelPool:
    if name == "mnist":
        images, digits = mnist_pool(cache_dir, split)
        rows = np.arange(len(digits))
        prompts = [p for digit in range(10) for p in mnist.digit_prompts(digit)]
        caption = digits * (len(prompts) // 10) + rows % (len(prompts) // 10)
        return PixelPool(images[:, None], {"digit": digits}, prompts, caption, mnist.split_hash(images))
    if name == "styled_digits":
        split_data = styled_digits.load_styled(cache_dir, split, render_seed, domains)
        rows = np.arange(len(split_data.digits))
        return PixelPool(
            split_data.images,
            split_data.labels,
            styled_digits.prompt_table(split_data.domain_names),
            styled_digits.caption_index(split_data, rows, domain_caption_share, render_seed),
            mnist.split_hash(split_data.images),
        )
    raise HddmError(f"data={name} is not an embedded dataset: choose one of {list(EMBEDDED)} or data=latents")


def is_pixel_pool(data) -> bool:
    """Data held in memory as a PixelPool (embedded or data=images); otherwise latent shards read row by row."""
    return str(data.space) == "pixel"


def is_image_set(data) -> bool:
    """A researcher's own pixel-space images (data=images), prepared into shards by hddm.prepare."""
    return is_pixel_pool(data) and data.name not in EMBEDDED


def image_set_pool(shard_dir: str, channels: int, image_size: int, split: str) -> PixelPool:
    images, data_hash = load_image_set(str(shard_dir), channels, image_size, split)
    prompts, caption = np.unique(np.array(images.captions, dtype=object).astype(str), return_inverse=True)
    labels = {} if images.labels is None else {LABEL_NAME: images.labels}
    names = {LABEL_NAME: images.class_names} if labels else {}
    return PixelPool(images.images, labels, prompts.tolist(), caption.astype(np.int64), data_hash, names)


def pool_of(data) -> PixelPool:
    """The pool a pixel-space `data` config node names (hddm.config.DataConfig)."""
    if data.name not in EMBEDDED:
        return image_set_pool(data.shard_dir, data.channels, data.image_size, data.split)
    domains = None if data.domains is None else tuple(data.domains)
    return load_pool(data.name, data.cache_dir, data.split, domains, data.render_seed, data.domain_caption_share)
