"""Sharded, resumable, checksummed caches of tensors (image features, VAE latents + caption states).

A cache is one folder:
    cache.json                  format + the key: everything the cached values depend on (encoder id,
                                resolution, crop, dtype, scale factor, source fingerprint, shard layout)
    <shard>.safetensors         one shard of rows (written atomically)
    <shard>.json                its record: sha256 of the shard file, row count, producer info

The records together are the cache's manifest. A shard counts as done only when its record exists and the
file matches the recorded sha256, so a job killed at any point resumes with the shards it finished, a
corrupted shard is rebuilt alone, and a record is written only after its shard file is complete. One record
per shard (instead of one shared manifest file) lets many jobs fill one cache at the same time without
overwriting each other's entries.

A key that differs from the folder's cache.json is refused: `ShardedCache.under` names the folder after the
key (a changed setting gets a fresh folder); a folder fixed by the user (the latent shard_dir the training
reads) must be emptied or changed by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from hddm.errors import HddmError
from hddm.io import save_safetensors, sha256_file, write_json

FORMAT = "hddm.cache/1"


def key_id(key: dict) -> str:
    """Short stable id of a cache key (canonical JSON)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def keys_digest(keys: Iterable[str]) -> str:
    """Hash of a shard's ordered item keys: two caches of the same shard must hold the same items."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


@dataclass
class ShardStatus:
    name: str
    action: str  # "cached" | "built" | "rebuilt" (its file failed the checksum)


class ShardedCache:
    def __init__(self, folder: str | Path, key: dict):
        self.folder = Path(folder).expanduser()
        self.key = key
        self._claim_folder()

    @classmethod
    def under(cls, root: str | Path, name: str, key: dict) -> "ShardedCache":
        """A cache in root/<name>-<key id>: any change of the key selects another folder, never stale data."""
        return cls(Path(root).expanduser() / f"{name}-{key_id(key)}", key)

    def _claim_folder(self) -> None:
        marker = self.folder / "cache.json"
        payload = {"format": FORMAT, "key": self.key}
        if not marker.is_file():
            write_json(marker, payload)  # concurrent jobs write identical content: last rename wins harmlessly
            return
        try:
            existing = json.loads(marker.read_text())
        except (OSError, ValueError):
            raise HddmError(f"{marker} is unreadable: delete {self.folder} and re-run to rebuild the cache") from None
        if existing.get("key") != json.loads(json.dumps(self.key)):
            changed = sorted(
                k for k in {*self.key, *existing.get("key", {})} if existing.get("key", {}).get(k) != self.key.get(k)
            )
            raise HddmError(
                f"{self.folder} caches other settings ({', '.join(changed)} differ): "
                f"choose another folder or delete this one"
            )

    def shard_path(self, name: str) -> Path:
        return self.folder / f"{name}.safetensors"

    def record_path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def record(self, name: str) -> dict | None:
        try:
            return json.loads(self.record_path(name).read_text())
        except (OSError, ValueError):
            return None

    def is_valid(self, name: str) -> bool:
        """Done and intact: a record exists and the shard file matches its sha256."""
        record, path = self.record(name), self.shard_path(name)
        return record is not None and path.is_file() and sha256_file(path) == record.get("sha256")

    def write(self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str], info: dict) -> dict:
        """Shard first, record second: a kill in between leaves no record, so the shard is simply redone."""
        self.record_path(name).unlink(missing_ok=True)
        tensors = {k: v.contiguous() for k, v in tensors.items()}
        path = save_safetensors(self.shard_path(name), tensors, metadata)
        record = {"sha256": sha256_file(path), "bytes": path.stat().st_size, **info}
        write_json(self.record_path(name), record)
        return record

    def read(self, name: str) -> dict[str, torch.Tensor]:
        """The shard's tensors, after checking them against the recorded sha256."""
        path = self.shard_path(name)
        if self.record(name) is None or not path.is_file():
            raise HddmError(f"shard {path} is missing: run its stage (hddm.prepare) again")
        if not self.is_valid(name):
            raise HddmError(f"{path} fails its sha256 check: re-run its stage, which rebuilds only this shard")
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise HddmError(f"{path} is unreadable ({error}): re-run its stage to rebuild it") from None

    def missing(self, names: Iterable[str]) -> list[str]:
        """Shards without a record (not built yet, or killed before their record was written)."""
        return [name for name in names if self.record(name) is None or not self.shard_path(name).is_file()]

    def build(
        self,
        names: Iterable[str],
        compute: Callable[[str], tuple[dict[str, torch.Tensor], dict[str, str], dict]],
        report: Callable[[ShardStatus], None] = lambda status: None,
    ) -> list[ShardStatus]:
        """Make every named shard valid, computing only the missing or corrupt ones.

        compute(name) -> (tensors, safetensors string metadata, extra record fields)."""
        statuses = []
        for name in names:
            if self.is_valid(name):
                status = ShardStatus(name, "cached")
            else:
                action = "rebuilt" if self.record(name) is not None else "built"
                self.write(name, *compute(name))
                status = ShardStatus(name, action)
            report(status)
            statuses.append(status)
        return statuses
