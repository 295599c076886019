import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from hddm.data.image_captions import ArraySource, CaptionFolderSource, TarShardSource, open_folder_source
from hddm.errors import HddmError


def three_bands(width=90, height=30):
    """Red | green | blue vertical bands: a centre square crop of a 90x30 image is exactly the green band."""
    array = np.zeros((height, width, 3), np.uint8)
    for band in range(3):
        array[:, band * width // 3 : (band + 1) * width // 3, band] = 255
    return Image.fromarray(array)


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def caption_folder(root, lines_format="jsonl"):
    rng = np.random.default_rng(0)
    entries = []
    for i in range(5):
        image = three_bands() if i == 0 else Image.fromarray(rng.integers(0, 255, (20 + 7 * i, 50, 3), dtype=np.uint8))
        image.save(root / f"img{i}.png")
        entries.append((f"img{i}.png", f"caption {i}"))
    (root / "broken.jpg").write_bytes(b"not an image")
    entries.insert(2, ("broken.jpg", "never decoded"))
    if lines_format == "jsonl":
        (root / "captions.jsonl").write_text("".join(json.dumps({"image": p, "caption": c}) + "\n" for p, c in entries))
    else:
        (root / "captions.tsv").write_text("".join(f"{p}\t{c}\n" for p, c in entries))
    return entries


@pytest.mark.parametrize("lines_format", ["jsonl", "tsv"])
def test_caption_folder_is_read_shard_by_shard_with_centre_crops(tmp_path, lines_format):
    caption_folder(tmp_path, lines_format)
    source = open_folder_source(tmp_path, image_size=16, shard_size=4, limit=None, workers=2)
    assert isinstance(source, CaptionFolderSource) and source.shard_names() == ["shard-000000", "shard-000001"]
    batches = [b for shard in range(2) for b in source.iter_shard(shard, batch_size=3)]
    keys = [k for b in batches for k in b.keys]
    assert keys == ["img0.png", "img1.png", "img2.png", "img3.png", "img4.png"]  # broken.jpg skipped
    assert sum(b.skipped for b in batches) == 1
    assert [c for b in batches for c in b.captions] == [f"caption {i}" for i in range(5)]
    first = batches[0].images[0]
    assert first.shape == (3, 16, 16) and first.dtype == torch.uint8
    assert (first[1] > 200).all() and (first[0] < 30).all() and (first[2] < 30).all()  # only the green centre
    loaded = source.load(0, ["img0.png", "broken.jpg"])
    assert list(loaded) == ["img0.png"] and torch.equal(loaded["img0.png"], first)


def test_limit_and_fingerprint(tmp_path):
    caption_folder(tmp_path)
    full = CaptionFolderSource(tmp_path, 16, shard_size=4)
    limited = CaptionFolderSource(tmp_path, 16, shard_size=4, limit=3)
    assert limited.shard_names() == ["shard-000000"] and limited.fingerprint != full.fingerprint
    assert [k for b in limited.iter_shard(0, 8) for k in b.keys] == ["img0.png", "img1.png"]


def test_malformed_caption_line_names_the_format(tmp_path):
    (tmp_path / "captions.jsonl").write_text('{"image": "a.png"}\n')
    source = CaptionFolderSource(tmp_path, 16, shard_size=4)
    with pytest.raises(HddmError, match="item 1 is malformed"):
        list(source.iter_shard(0, 4))


def test_tar_shards_are_streamed_one_cache_shard_per_tar(tmp_path):
    def add(archive, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    image = png_bytes(three_bands())
    with tarfile.open(tmp_path / "00000.tar", "w") as archive:
        add(archive, "a/000.png", image), add(archive, "a/000.txt", b"first caption")
        add(archive, "a/001.png", image), add(archive, "a/001.json", json.dumps({"caption": "second"}).encode())
        add(archive, "a/002.txt", b"a caption without its image")
    with tarfile.open(tmp_path / "00001.tar", "w") as archive:
        add(archive, "003.jpg", b"corrupt bytes"), add(archive, "003.txt", b"skipped")
        add(archive, "004.png", image)
    source = open_folder_source(tmp_path, image_size=8, shard_size=1000, limit=None, workers=1)
    assert isinstance(source, TarShardSource) and source.shard_names() == ["shard-000000", "shard-000001"]
    first = list(source.iter_shard(0, batch_size=8))
    assert first[0].keys == ["a/000", "a/001"] and first[0].captions == ["first caption", "second"]
    second = list(source.iter_shard(1, batch_size=8))
    assert second[0].keys == ["004"] and second[0].captions == [""] and second[0].skipped == 1
    assert list(source.load(0, ["a/001"])) == ["a/001"]
    with pytest.raises(HddmError, match="limit="):
        open_folder_source(tmp_path, 8, 1000, limit=5, workers=1)


def test_missing_inputs_name_the_fix(tmp_path):
    with pytest.raises(HddmError, match="not a folder"):
        open_folder_source(tmp_path / "nope", 8, 10, None, 1)
    with pytest.raises(HddmError, match=".tar"):
        open_folder_source(tmp_path, 8, 10, None, 1)


def test_array_source_shards_keep_labels_and_order():
    images = np.arange(7 * 4, dtype=np.uint8).reshape(7, 2, 2)
    source = ArraySource(images, np.arange(7) % 3, "hash", shard_size=3)
    assert source.shard_names() == ["shard-000000", "shard-000001", "shard-000002"]
    batches = list(source.iter_shard(1, batch_size=2))
    assert [b.keys for b in batches] == [["3", "4"], ["5"]]
    assert batches[0].labels.tolist() == [0, 1] and batches[0].images.shape == (2, 1, 2, 2)
    assert torch.equal(source.load(2, ["6"])["6"], torch.from_numpy(images[6])[None])
