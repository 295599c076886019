"""Small file helpers: atomic writes and content hashes, so a killed job never leaves a half-written file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: str | Path, write) -> Path:
    """Call write(tmp_path), then rename over path: readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:  # a failed write (a full disk) names no file: name the one being written
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def safetensors_bytes(tensors: dict, metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file's bytes, the same for the same tensors and metadata on every run: the library writes its
    metadata in a per-process hash order, so the header is rewritten with the metadata keys sorted (same length)."""
    from safetensors.torch import save

    raw = save(tensors, metadata=metadata)
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    if "__metadata__" in header:
        header = {"__metadata__": dict(sorted(header.pop("__metadata__").items())), **header}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode().ljust(size)
    if len(text) != size:
        raise RuntimeError(f"safetensors header changed length when sorted ({len(text)} != {size})")
    return raw[:8] + text + raw[8 + size :]


def save_safetensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """Atomically write tensors as deterministic safetensors bytes (safetensors_bytes)."""
    payload = safetensors_bytes(tensors, metadata)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | Path, payload: dict) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n"))
