import shutil

import numpy as np
import pytest
import torch

from hddm.data.mnist import load_split
from hddm.errors import HddmError
from hddm.models import digit_cnn
from hddm.models.digit_cnn import FEATURE_DIM, DigitCNNRecipe, accuracy, cached_digit_cnn, train_digit_cnn


def test_training_is_deterministic_and_learns(cache_dir):
    images, labels = load_split(cache_dir, "train")
    images, labels = images[:2000], labels[:2000]
    recipe = DigitCNNRecipe(steps=40, batch_size=64, lr=3e-3, seed=1)
    first, second = train_digit_cnn(images, labels, recipe), train_digit_cnn(images, labels, recipe)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    x = torch.from_numpy(images[:500, None]).float() / 127.5 - 1
    assert first.features(x).shape == (500, FEATURE_DIM) and (first.features(x) >= 0).all()
    assert (first(x).argmax(1).numpy() == labels[:500]).mean() > 0.5  # far above chance after 40 steps
    other_seed = train_digit_cnn(images, labels, DigitCNNRecipe(steps=40, batch_size=64, lr=3e-3, seed=2))
    assert not torch.equal(other_seed.fc.weight, first.fc.weight)


def test_cached_network_is_reused_and_a_corrupt_file_retrained(cache_dir):
    recipe = DigitCNNRecipe(steps=3, batch_size=16)
    model, manifest = cached_digit_cnn(cache_dir, recipe)
    weights = cache_dir / "models" / "digit_cnn" / recipe.recipe_id() / "model.safetensors"
    assert manifest["recipe"]["steps"] == 3 and 0 <= manifest["test_accuracy"] <= 1 and weights.is_file()
    mtime = weights.stat().st_mtime_ns
    again, _ = cached_digit_cnn(cache_dir, recipe)
    assert weights.stat().st_mtime_ns == mtime and torch.equal(again.fc.weight, model.fc.weight)
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    rebuilt, rebuilt_manifest = cached_digit_cnn(cache_dir, recipe)
    assert rebuilt_manifest["sha256"] == manifest["sha256"]  # deterministic retraining gives the same weights
    np.testing.assert_array_equal(rebuilt.fc.weight.numpy(), model.fc.weight.numpy())


def test_default_recipe_is_the_shipped_network(cache_dir, tmp_path):
    model, manifest = cached_digit_cnn(tmp_path)  # nothing trained, nothing written to the cache
    assert (
        manifest["sha256"] == digit_cnn.SHIPPED_SHA256
        and manifest["recipe"] == {"steps": 1500, "batch_size": 128, "lr": 2e-3, "seed": 0}
        and not any(tmp_path.iterdir())
    )
    images, labels = load_split(cache_dir, "test")
    assert accuracy(model, images[:2000], labels[:2000]) > 0.97


def test_corrupt_shipped_network_is_a_one_line_error(tmp_path, monkeypatch):
    shutil.copytree(digit_cnn.SHIPPED, tmp_path / "digit_cnn")
    weights = tmp_path / "digit_cnn" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    monkeypatch.setattr(digit_cnn, "SHIPPED", tmp_path / "digit_cnn")
    with pytest.raises(HddmError, match="fails its checksum: reinstall hddm") as error:
        cached_digit_cnn(tmp_path / "cache")
    assert "\n" not in str(error.value)
