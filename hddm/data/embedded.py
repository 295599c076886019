"""The embedded datasets (MNIST, styled digits) as one in-memory pool, the same for training, clustering and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hddm.data import mnist, styled_digits
from hddm.errors import HddmError

EMBEDDED = ("mnist", "styled_digits")


@dataclass(frozen=True)
class PixelPool:
    images: np.ndarray  # uint8 [N, C, H, W]
    labels: dict[str, np.ndarray]  # metric-only labels by name; the first is what cluster tables list
    prompts: list[str]  # every caption the pool uses
    caption: np.ndarray  # int64 [N]: row i's caption is prompts[caption[i]]
    data_hash: str  # content hash of the images: what a partition of this pool is tied to


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


def pool_of(data) -> PixelPool:
    """The pool a `data` config node names (hddm.config.DataConfig)."""
    domains = None if data.domains is None else tuple(data.domains)
    return load_pool(data.name, data.cache_dir, data.split, domains, data.render_seed, data.domain_caption_share)
