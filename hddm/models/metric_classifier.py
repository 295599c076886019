"""The metric classifier of a researcher's own labelled image set ("metric classifier"), trained by hddm.prepare.

Why it exists: class-conditional metrics (class adherence, per-class and domain Frechet distances in its features,
k-NN precision/recall) need a network that knows the user's classes, and no such network ships for data nobody
has seen. It is trained on the prepared set's training split only and measured on its held-out test split, whose
accuracy every result records beside adherence. It is named as what it is, never "CLIP".

Any channels and image size: two conv stages, global pooling to 4x4, a 128-d penultimate layer (the features).
Training is seeded and single-threaded (the same weights on one machine, run after run).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from hddm.data.image_set import CLASSIFIER_FOLDER
from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json
from hddm.models.digit_cnn import DigitCNNRecipe, fit_seeded, one_thread, to_model_input

FEATURE_DIM = 128
DISPLAY_NAME = "metric classifier"
FOLDER = CLASSIFIER_FOLDER  # inside the prepared image set's folder


class MetricClassifier(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [B, 128] of images in [-1, 1]."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.adaptive_avg_pool2d(F.relu(self.conv2(x)), 4)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.enable_grad()
@one_thread()
def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, recipe: DigitCNNRecipe):
    """Cross-entropy by the digit CNN's recipe (hddm.models.digit_cnn.fit_seeded); the seed fixes the init and the
    batch order."""
    torch.manual_seed(recipe.seed)
    x_all, y_all = to_model_input(images), torch.as_tensor(labels, dtype=torch.int64)
    model = MetricClassifier(x_all.shape[1], num_classes)
    return fit_seeded(model, len(x_all), lambda batch: F.cross_entropy(model(x_all[batch]), y_all[batch]), recipe)


@torch.no_grad()
@one_thread()
def predict(model: MetricClassifier, images: np.ndarray | torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    x = to_model_input(images)
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def fit_and_save(
    folder: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    class_names: list[str],
    data_hash: str,
    recipe: DigitCNNRecipe = DigitCNNRecipe(),
) -> dict:
    """Train on the labelled training items, measure on the labelled test items, write weights + manifest."""
    started = time.time()
    model = train_classifier(*train, len(class_names), recipe)
    seconds = time.time() - started
    test_images, test_labels = test
    predicted = predict(model, test_images).numpy() if len(test_labels) else np.empty(0, dtype=np.int64)
    per_class = {
        name: round(float((predicted[test_labels == c] == c).mean()), 4)
        for c, name in enumerate(class_names)
        if (test_labels == c).any()
    }
    weights = folder / "model.safetensors"
    save_safetensors(weights, {k: v.contiguous() for k, v in model.state_dict().items()}, {"model": FOLDER})
    manifest = {
        "model": "hddm.models.metric_classifier.MetricClassifier",
        "display_name": DISPLAY_NAME,
        "in_channels": int(train[0].shape[1]),
        "image_size": int(train[0].shape[-1]),
        "class_names": class_names,
        "feature_dim": FEATURE_DIM,
        "recipe": asdict(recipe),
        "trained_on": {"data_hash": data_hash, "items": int(len(train[1]))},
        "train_seconds": round(seconds, 1),
        "test_items": int(len(test_labels)),
        "test_accuracy": round(float((predicted == test_labels).mean()), 4) if len(test_labels) else None,
        "test_accuracy_per_class": per_class,
        "sha256": sha256_file(weights),
    }
    write_json(folder / "manifest.json", manifest)
    return manifest


def load_metric_classifier(folder: str | Path) -> tuple[MetricClassifier, dict]:
    """(model, manifest), the weights checked against the manifest's sha256."""
    folder = Path(folder).expanduser()
    weights, manifest_path = folder / "model.safetensors", folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        intact = weights.is_file() and sha256_file(weights) == manifest["sha256"]
    except (OSError, ValueError, KeyError):
        intact = False
    if not intact:
        raise HddmError(
            f"no intact metric classifier in {folder}: train it with python -m hddm.prepare data=images "
            "data.name=<name> stages=[classifier] (it needs labelled images)"
        )
    model = MetricClassifier(manifest["in_channels"], len(manifest["class_names"]))
    model.load_state_dict(load_file(str(weights)))
    return model.eval().requires_grad_(False), manifest
