"""Prompt embeddings computed once per (encoder, prompt list) and cached on disk as safetensors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hddm.io import atomic_write
from hddm.models.text import TextEncoder


def cached_prompt_embeddings(
    prompts: list[str], encoder_id: str, make_encoder: Callable[[], TextEncoder], cache_dir: str | Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [P, L, D] float32, mask [P, L] bool) for the prompts; the encoder is built only on a cache miss."""
    key = hashlib.sha256("\n".join([encoder_id, *prompts]).encode()).hexdigest()[:20]
    path = Path(cache_dir).expanduser() / "text" / f"{key}.safetensors"
    if path.is_file():
        try:
            cached = load_file(str(path))
            return cached["tokens"], cached["mask"]
        except (SafetensorError, KeyError, OSError):
            pass  # a torn or foreign file: recompute and overwrite it below
    tokens, mask = make_encoder()(prompts)
    tensors = {"tokens": tokens.float().contiguous(), "mask": mask.contiguous()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"encoder_id": encoder_id}))
    return tensors["tokens"], tensors["mask"]
