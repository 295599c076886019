"""The metric network of styled digits ("styled-cnn"): hddm.models.digit_cnn's classifier on RGB input with a digit
head and a domain head on one 128-d feature layer, trained on styled-digits train labels.

Used for metrics only (domain FID (styled-cnn), digit and domain adherence, k-NN precision/recall), never for
clustering or training. Like the MNIST digit CNN it ships with hddm (hddm/assets/styled_cnn/, sha256 pinned) so
every machine measures with the same network; `python -m hddm.models.styled_cnn <out folder>` re-runs the recipe
(deterministic on one machine, not bitwise across CPUs).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hddm.data.styled_digits import DOMAINS, load_styled
from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json
from hddm.models.digit_cnn import (
    FEATURE_DIM,
    DigitCNN,
    DigitCNNRecipe,
    load_weights,
    one_thread,
    to_model_input,
    train_digit_cnn,
)

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "styled_cnn"
SHIPPED_SHA256 = "ee19bffd9a4c782b19966c8dc7aaf58f43e07fabcc62dc236b90903ea63c1526"
RECIPE = DigitCNNRecipe(steps=3000, batch_size=128, lr=2e-3, seed=0)
DISPLAY = "styled-cnn"


@functools.cache  # one checked load per process: the metrics call it per batch
def shipped_styled_cnn() -> tuple[DigitCNN, dict]:
    loaded = load_weights(SHIPPED, SHIPPED_SHA256)
    if loaded is None:
        raise HddmError(
            f"the shipped styled-cnn in {SHIPPED} is missing or fails its checksum: restore it from git "
            "(git checkout hddm/assets/styled_cnn) or reinstall hddm"
        )
    return loaded


@torch.no_grad()
@one_thread()
def accuracies(model: DigitCNN, images: np.ndarray, digits: np.ndarray, domains: np.ndarray, batch: int = 1000) -> dict:
    x = to_model_input(images)
    predicted = [model.both_logits(x[i : i + batch]) for i in range(0, len(x), batch)]
    digit = torch.cat([p[0] for p in predicted]).argmax(1).numpy()
    domain = torch.cat([p[1] for p in predicted]).argmax(1).numpy()
    return {"digit": round(float((digit == digits).mean()), 4), "domain": round(float((domain == domains).mean()), 4)}


def train_styled_cnn(cache_dir: str, out: str | Path) -> dict:
    """Train the recipe on styled-digits train (50k) and write model.safetensors + manifest.json into out."""
    train = load_styled(cache_dir, "train")
    started = time.time()
    model = train_digit_cnn(train.images, train.digits, RECIPE, train.domains, len(DOMAINS))
    seconds = time.time() - started
    test = load_styled(cache_dir, "test")
    out = Path(out)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_safetensors(out / "model.safetensors", state, {"model": "hddm.styled_cnn"})
    manifest = {
        "model": "hddm.models.digit_cnn.DigitCNN",
        "input": "float [B,3,28,28] in [-1,1]",
        "in_channels": 3,
        "num_domains": len(DOMAINS),
        "domains": list(train.domain_names),
        "feature_dim": FEATURE_DIM,
        "recipe": asdict(RECIPE),
        "trained_on": "styled digits train (50k, render seed 0), digit and domain labels",
        "train_seconds": round(seconds, 1),
        "test_accuracy": accuracies(model, test.images, test.digits, test.domains),
        "sha256": sha256_file(out / "model.safetensors"),
    }
    write_json(out / "manifest.json", manifest)
    return manifest


if __name__ == "__main__":
    import os

    cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    print(train_styled_cnn(cache, sys.argv[1] if len(sys.argv) > 1 else SHIPPED))
