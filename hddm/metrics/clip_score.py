"""CLIP score at real scale through torchmetrics' CLIPScore, with CLIP ViT-L/14 from the hub or a local folder.

Truncation policy, pinned: prompts are tokenised with truncation to CLIP's 77-token context *by the tokenizer*
(BOS ... EOS kept, so the pooled EOS feature exists); torchmetrics' own fallback would cut the token ids after
tokenising and drop the EOS token. At the embedded (MNIST) scale the offline stand-in is
hddm.metrics.adherence (prompt_adherence_mnist_cnn).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hddm.errors import HddmError

METRIC_NAME = "clip_score"
DEFAULT_MODEL = "openai/clip-vit-large-patch14"
CONTEXT_LENGTH = 77
TRUNCATION_POLICY = f"tokenizer truncation to {CONTEXT_LENGTH} tokens including BOS/EOS"


class TruncatingProcessor:
    """A CLIPProcessor whose text calls always truncate to the context length (images pass through)."""

    def __init__(self, processor, max_length: int = CONTEXT_LENGTH):
        self.processor, self.max_length = processor, max_length

    def __call__(self, text=None, images=None, **kwargs):
        if text is not None:
            kwargs.update(truncation=True, max_length=self.max_length)
        return self.processor(text=text, images=images, **kwargs)


class FeatureTensors(nn.Module):
    """transformers >= 5 returns output objects from get_*_features (projected features in pooler_output);
    torchmetrics' CLIPScore expects the feature tensors themselves."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    @staticmethod
    def tensor(output):
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    def get_image_features(self, *args, **kwargs):
        return self.tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args, **kwargs):
        return self.tensor(self.model.get_text_features(*args, **kwargs))


def clip_model_loader(model: str = DEFAULT_MODEL):
    """A zero-argument loader for torchmetrics' CLIPScore: a local folder, or a hub id (needs the network or
    a warm HF cache; HF_HUB_OFFLINE=1 turns a miss into the one-line error below)."""

    def load():
        from transformers import CLIPModel, CLIPProcessor

        local = Path(model).expanduser()
        source = str(local) if local.exists() else model
        try:
            clip = FeatureTensors(CLIPModel.from_pretrained(source).eval())
            return clip, TruncatingProcessor(CLIPProcessor.from_pretrained(source))
        except OSError as error:
            raise HddmError(
                f"cannot load CLIP {model!r} ({str(error).splitlines()[0]}): give metrics.clip.model="
                "a local folder holding a transformers CLIP checkpoint"
            ) from None

    return load


def make_clip_score(model: str = DEFAULT_MODEL):
    from torchmetrics.multimodal.clip_score import CLIPScore

    return CLIPScore(model_name_or_path=clip_model_loader(model))


def clip_implementation(model: str) -> dict:
    return {
        "name": METRIC_NAME,
        "library": "torchmetrics CLIPScore (100 * max(cos, 0))",
        "model": model,
        "truncation": TRUNCATION_POLICY,
    }
