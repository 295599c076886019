"""Sharded caches: resume after a kill, corrupt shards rebuilt alone, stale keys never reused."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hddm.data.caches import ShardedCache
from hddm.data.features import features_cache
from hddm.data.image_captions import ArraySource
from hddm.data.latents import latents_cache
from hddm.errors import HddmError
from hddm.io import sha256_file

KEY = {"stage": "test", "encoder": "toy/1", "resolution": 28, "crop": "none", "dtype": "float32"}
NAMES = [f"shard-{i:06d}" for i in range(6)]
REPO = Path(__file__).resolve().parents[2]


def toy_shard(name):
    """Deterministic content per shard name, as an encoder would give."""
    number = int(name[-6:])
    return {"x": torch.arange(4, dtype=torch.float32) + 10 * number}, {"keys": str(number)}, {"rows": 4}


class Counting:
    def __init__(self):
        self.calls = []

    def __call__(self, name):
        self.calls.append(name)
        return toy_shard(name)


def test_second_build_reuses_every_shard(tmp_path):
    cache = ShardedCache(tmp_path / "c", KEY)
    first, second = Counting(), Counting()
    assert {s.action for s in cache.build(NAMES, first)} == {"built"}
    assert {s.action for s in cache.build(NAMES, second)} == {"cached"} and second.calls == []
    assert torch.equal(cache.read(NAMES[3])["x"], toy_shard(NAMES[3])[0]["x"])
    assert cache.record(NAMES[3])["rows"] == 4 and len(cache.record(NAMES[3])["sha256"]) == 64


def test_resume_after_sigkill_builds_only_the_missing_shards(tmp_path):
    folder = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from hddm.data.caches import ShardedCache
        from test_caches import KEY, NAMES, toy_shard
        def slow(name):
            time.sleep(0.4)
            return toy_shard(name)
        ShardedCache({str(folder)!r}, KEY).build(NAMES, slow)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    deadline = time.time() + 60
    while len(list(folder.glob("shard-*.json"))) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = sorted(p.stem for p in folder.glob("shard-*.json"))
    assert 2 <= len(done) < len(NAMES), done

    resumed = Counting()
    statuses = ShardedCache(folder, KEY).build(NAMES, resumed)
    assert resumed.calls == [name for name in NAMES if name not in done]
    assert [s.name for s in statuses if s.action == "cached"] == done
    straight = ShardedCache(tmp_path / "straight", KEY)
    straight.build(NAMES, toy_shard)
    for name in NAMES:
        assert sha256_file(straight.shard_path(name)) == sha256_file(folder / f"{name}.safetensors")


def test_shard_without_record_counts_as_not_built(tmp_path):
    """A kill between writing the shard and its record: the shard is simply redone."""
    cache = ShardedCache(tmp_path, KEY)
    cache.build(NAMES[:2], toy_shard)
    cache.record_path(NAMES[1]).unlink()
    calls = Counting()
    assert [s.action for s in cache.build(NAMES[:2], calls)] == ["cached", "built"] and calls.calls == [NAMES[1]]


def test_corrupt_shard_is_detected_and_rebuilt_alone(tmp_path):
    cache = ShardedCache(tmp_path, KEY)
    cache.build(NAMES, toy_shard)
    before = {name: (cache.shard_path(name).stat().st_mtime_ns, sha256_file(cache.shard_path(name))) for name in NAMES}
    path = cache.shard_path(NAMES[2])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the tensor bytes: still a readable safetensors file
    path.write_bytes(bytes(data))

    with pytest.raises(HddmError, match="sha256"):
        cache.read(NAMES[2])
    calls = Counting()
    statuses = cache.build(NAMES, calls)
    assert calls.calls == [NAMES[2]] and [s.action for s in statuses].count("rebuilt") == 1
    assert torch.equal(cache.read(NAMES[2])["x"], toy_shard(NAMES[2])[0]["x"])
    for name in NAMES:
        if name != NAMES[2]:
            assert (cache.shard_path(name).stat().st_mtime_ns, sha256_file(cache.shard_path(name))) == before[name]


def test_changed_key_gets_its_own_folder(tmp_path):
    old = ShardedCache.under(tmp_path, "mnist", KEY)
    old.build(NAMES[:1], toy_shard)
    for change in ({"dtype": "float16"}, {"resolution": 256}, {"crop": "center-square"}, {"encoder": "toy/2"}):
        new = ShardedCache.under(tmp_path, "mnist", {**KEY, **change})
        assert new.folder != old.folder and new.missing(NAMES[:1]) == NAMES[:1]
    assert ShardedCache.under(tmp_path, "mnist", dict(reversed(list(KEY.items())))).folder == old.folder  # order-free
    assert old.is_valid(NAMES[0])


def test_fixed_folder_with_other_settings_is_refused(tmp_path):
    ShardedCache(tmp_path, KEY).build(NAMES[:1], toy_shard)
    with pytest.raises(HddmError, match=r"\(dtype, encoder differ\).*another folder"):
        ShardedCache(tmp_path, {**KEY, "dtype": "float16", "encoder": "toy/2"})


def test_feature_and_latent_cache_keys_cover_encoder_resolution_dtype_and_scale(tmp_path):
    source = ArraySource(np.zeros((8, 28, 28), np.uint8), None, "abc", shard_size=4)
    base = features_cache(tmp_path, "mnist", "pixels", source, "float32", "float32").folder
    assert features_cache(tmp_path, "mnist", "pixels", source, "float16", "float32").folder != base
    assert features_cache(tmp_path, "mnist", "mnist-cnn/123", source, "float32", "float32").folder != base
    resized = ArraySource(np.zeros((8, 32, 32), np.uint8), None, "abc", shard_size=4)
    assert features_cache(tmp_path, "mnist", "pixels", resized, "float32", "float32").folder != base
    assert ArraySource(np.zeros((8, 28, 28), np.uint8), None, "abc", shard_size=2).fingerprint != source.fingerprint

    latents_cache(tmp_path / "shards", "sd-vae", "clip", source, 0.18215, "float16", "float32")
    for args in (
        ("sd-vae", "clip", source, 0.5, "float16", "float32"),
        ("other-vae", "clip", source, 0.18215, "float16", "float32"),
        ("sd-vae", "clip", source, 0.18215, "float32", "float32"),
        ("sd-vae", "clip", resized, 0.18215, "float16", "float32"),
    ):
        with pytest.raises(HddmError, match="caches other settings"):
            latents_cache(tmp_path / "shards", *args)
