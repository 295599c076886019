"""Prompt embeddings computed once per (encoder, prompt list) and cached on disk as safetensors.

Each distinct prompt is encoded alone, so a prompt's embedding never depends on which other prompts share its list
or batch (batched kernels round differently with the batch's shape): every command that embeds a prompt gets the
same tensor. Each cache file carries the sha256 of its tensors; a file that does not match is re-encoded.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from hddm.io import save_safetensors
from hddm.models.text import TextEncoder

LAYOUT = "per-prompt/1"  # part of every cache key: entries written another way are never read back


def tensors_digest(tokens: torch.Tensor, mask: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (tokens, mask):
        digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
        digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_checked(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached tensors, or None when the file is missing, unreadable or does not match its recorded sha256."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), "pt") as handle:
            recorded = (handle.metadata() or {}).get("sha256")
        cached = load_file(str(path))
        if recorded == tensors_digest(cached["tokens"], cached["mask"]):
            return cached["tokens"], cached["mask"]
    except (SafetensorError, KeyError, OSError, RuntimeError):
        pass
    print(f"hddm: text cache entry {path} is corrupt or foreign: re-encoding it", file=sys.stderr)
    return None


def cached_prompt_embeddings(
    prompts: list[str], encoder_id: str, make_encoder: Callable[[], TextEncoder], cache_dir: str | Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [P, L, D] float32, mask [P, L] bool) for the prompts; the encoder is built only on a cache miss."""
    key = hashlib.sha256("\n".join([LAYOUT, encoder_id, *prompts]).encode()).hexdigest()[:20]
    path = Path(cache_dir).expanduser() / "text" / f"{key}.safetensors"
    cached = read_checked(path)
    if cached is not None:
        return cached
    encoder = make_encoder()
    distinct = list(dict.fromkeys(prompts))
    encoded = {prompt: encoder([prompt]) for prompt in distinct}
    tokens = torch.cat([encoded[p][0] for p in prompts]).float().contiguous()
    mask = torch.cat([encoded[p][1] for p in prompts]).contiguous()
    metadata = {"encoder_id": encoder_id, "sha256": tensors_digest(tokens, mask)}
    save_safetensors(path, {"tokens": tokens, "mask": mask}, metadata)
    return tokens, mask
