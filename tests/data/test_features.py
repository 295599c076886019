"""Feature extractors and the latents stage with small random networks (no downloads)."""

import json

import numpy as np
import pytest
import torch
from conftest import save_tiny_vae

from hddm.data.caches import ShardedCache
from hddm.data.datasets import LatentShardDataset
from hddm.data.features import DINOv2Features, PixelFeatures, extract_shard
from hddm.data.image_captions import ArraySource, ImageBatch
from hddm.data.latents import VAEEncoder, encode_shard
from hddm.errors import HddmError

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2}


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    return VAEEncoder(str(save_tiny_vae(tmp_path_factory.mktemp("vae"))), torch.device("cpu"), "float32")


class StubText:
    """The TextEncoder interface (token states + mask) without a download."""

    encoder_id, dim, max_length = "stub/L5", 6, 5

    def __call__(self, prompts):
        tokens = torch.stack([torch.full((5, 6), float(len(p))) for p in prompts])
        return tokens, torch.arange(5).expand(len(prompts), 5) < 3


class CaptionedArraySource(ArraySource):
    crop = "center-square"

    def iter_shard(self, index, batch_size):
        for batch in super().iter_shard(index, batch_size):
            yield ImageBatch(batch.keys, batch.images, [f"caption {k}" for k in batch.keys], None)


def test_dinov2_extractor_returns_the_last_layer_cls_token():
    extractor = DINOv2Features("vit_small_patch14_dinov2", "none", 56, TINY_VIT, torch.device("cpu"), "float32")
    images = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)
    features = extractor(images)
    assert features.shape == (3, 32) and features.dtype == torch.float32
    x = torch.nn.functional.interpolate(images.float() / 255, size=(56, 56), mode="bicubic", antialias=True).clamp(0, 1)
    x = (x - extractor.mean) / extractor.std
    torch.testing.assert_close(features, extractor.model.forward_features(x)[:, 0])
    grey = extractor(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8))  # digits go through as RGB
    assert grey.shape == (2, 32)
    assert extractor.extractor_id == "timm/vit_small_patch14_dinov2/none/in56/depth=1,embed_dim=32,num_heads=2/cls-last"
    again = DINOv2Features("vit_small_patch14_dinov2", "none", 56, TINY_VIT, torch.device("cpu"), "float32")
    torch.testing.assert_close(again(images), features)  # random init is seeded


def test_missing_weights_file_is_a_one_line_error(tmp_path):
    with pytest.raises(HddmError, match="features.weights"):
        DINOv2Features(
            "vit_small_patch14_dinov2", str(tmp_path / "nope.safetensors"), 56, TINY_VIT, torch.device("cpu"), "float32"
        )


def test_features_shard_holds_features_labels_and_keys():
    images = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    source = ArraySource(images, np.arange(10) % 10, "h", shard_size=6)
    tensors, metadata, info = extract_shard(PixelFeatures(), source, 1, batch_size=3, dtype=torch.float16)
    assert tensors["features"].shape == (4, 784) and tensors["features"].dtype == torch.float16
    torch.testing.assert_close(
        tensors["features"][0].float(), torch.from_numpy(images[6]).flatten().float() / 127.5 - 1, atol=1e-3, rtol=0
    )
    assert tensors["labels"].tolist() == [6, 7, 8, 9] and json.loads(metadata["keys"]) == ["6", "7", "8", "9"]
    assert info["rows"] == 4 and info["skipped"] == 0


def test_latent_shards_are_what_the_training_reads(tmp_path, tiny_vae):
    vae = tiny_vae
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    source = CaptionedArraySource(images, None, "h", shard_size=3)
    cache = ShardedCache(tmp_path / "shards", {"stage": "latents-test"})
    for index, name in enumerate(source.shard_names()):
        cache.write(
            name,
            *encode_shard(
                vae,
                StubText(),
                source,
                index,
                batch_size=2,
                scale_factor=0.5,
                dtype=torch.float16,
                std_range=None,
                precision="float32",
            ),
        )
    dataset = LatentShardDataset(tmp_path / "shards")
    assert len(dataset) == 5
    item = dataset[4]
    expected = vae(torch.from_numpy(images[4:5]))[0] * 0.5
    torch.testing.assert_close(item["x"], expected.half().float())
    assert (
        item["x"].shape == (4, 4, 4)
        and item["text"].shape == (5, 6)
        and item["text_mask"].tolist() == [True] * 3 + [False] * 2
    )
    assert item["text"][0, 0] == len("caption 4")
    record = cache.record("shard-000001")
    assert record["rows"] == 2 and record["scale_factor"] == 0.5 and record["latent_std"] > 0


def test_mis_scaled_latents_are_refused_before_writing(tiny_vae):
    vae = tiny_vae
    source = CaptionedArraySource(np.zeros((2, 3, 32, 32), np.uint8) + 100, None, "h", shard_size=2)
    with pytest.raises(HddmError, match="vae.scale_factor=0.18215"):
        encode_shard(vae, StubText(), source, 0, 2, 0.18215, torch.float16, [0.5, 2.0], "float32")
