"""data=images sources and shards: formats, partial labels, held-out split, checksums."""

import json

import numpy as np
import pytest
from PIL import Image

from hddm.data.cluster_report import cluster_rows, overall_purity
from hddm.data.image_set import class_captions, load_image_set, read_source, wanted_class, write_image_set
from hddm.errors import HddmError


def test_npz_images_in_any_layout_are_converted_centre_cropped_and_resized(tmp_path):
    rgba = np.zeros((2, 40, 30, 4), dtype=np.uint8)
    rgba[:, 5:35, :, :3] = 255  # the centre 30x30 square is white: the crop keeps only it
    path = tmp_path / "set.npz"
    np.savez(path, images=rgba, labels=np.array([0, 1]), class_names=np.array(["a", "b"]))
    images = read_source(str(path), 3, 28, "a photo of a {label}")
    assert images.images.shape == (2, 3, 28, 28) and images.images.min() == 255
    assert images.captions == ["a photo of a a", "a photo of a b"]
    np.savez(path, images=np.zeros((2, 5, 5, 2), dtype=np.uint8), labels=np.array([0, 0]), class_names=np.array(["a"]))
    with pytest.raises(HddmError, match="C 1, 3 or 4"):
        read_source(str(path), 3, 28, "{label}")


def test_a_partly_labelled_caption_folder_keeps_its_unlabelled_items(tmp_path):
    for i in range(6):
        Image.new("L", (32, 32), color=40 * i).save(tmp_path / f"{i}.png")
    lines = [{"image": f"{i}.png", "caption": f"caption {i}"} for i in range(6)]
    for line, label in zip(lines, ["cat", "dog", "cat"]):
        line["label"] = label
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    images = read_source(str(tmp_path), 1, 16, "{label}")
    assert images.class_names == ["cat", "dog"] and images.labels.tolist() == [0, 1, 0, -1, -1, -1]
    assert class_captions(images) == {0: "cat", 1: "dog"}  # no caption names its class: the class name asks for it
    rows = cluster_rows(np.array([0, 0, 1, 1, 1, 0]), 2, images.labels)
    assert rows[0]["top_classes"] == [[0, 0.5], [1, 0.5]] and rows[1]["top_classes"] == [[0, 1.0]]
    assert overall_purity(np.array([0, 0, 1, 1, 1, 0]), 2, images.labels) == pytest.approx(2 / 3, abs=1e-4)


def test_shards_hold_out_a_seeded_test_split_and_refuse_a_changed_shard(tmp_path):
    path = tmp_path / "set.npz"
    np.savez(
        path,
        images=np.arange(20 * 28 * 28, dtype=np.int64).reshape(20, 28, 28).astype(np.uint8),
        labels=np.arange(20) % 2,
        class_names=np.array(["odd one", "even one"]),
    )
    index = write_image_set(tmp_path / "shards", read_source(str(path), 1, 28, "{label}"), 8, 0.25, seed=0)
    assert index["count"] == 20 and len(index["test_rows"]) == 5 and len(index["shards"]) == 3
    train, _ = load_image_set(str(tmp_path / "shards"), 1, 28, "trainval")
    test, _ = load_image_set(str(tmp_path / "shards"), 1, 28, "test")
    assert len(train.images) == 15 and len(test.images) == 5
    with pytest.raises(HddmError, match="data.channels=1 data.image_size=28"):
        load_image_set(str(tmp_path / "shards"), 3, 28, "trainval")
    shard = tmp_path / "shards" / index["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-1] + b"x")
    load_image_set.cache_clear()
    with pytest.raises(HddmError, match="changed since it was written"):
        load_image_set(str(tmp_path / "shards"), 1, 28, "test")


def test_a_prompt_names_the_longest_class_it_contains():
    names = ["car", "sports car", "cart"]
    assert wanted_class("a red sports car at night", names) == 1
    assert wanted_class("a car", names) == 0 and wanted_class("a cart", names) == 2
    assert wanted_class("a carpet", names) is None
