"""CLIP score loading: pinned truncation, one-line errors, no downloads."""

import pytest

from hddm.errors import HddmError
from hddm.metrics.clip_score import CONTEXT_LENGTH, TruncatingProcessor, clip_implementation, clip_model_loader


def test_text_is_always_truncated_by_the_tokenizer():
    calls = []
    processor = TruncatingProcessor(lambda **kwargs: calls.append(kwargs))
    processor(text=["a long prompt"], return_tensors="pt", padding=True)
    processor(images=["an image"], return_tensors="pt")
    assert calls[0]["truncation"] is True and calls[0]["max_length"] == CONTEXT_LENGTH
    assert "truncation" not in calls[1]
    assert "77" in clip_implementation("local")["truncation"]


def test_a_missing_model_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HddmError, match="local folder"):
        clip_model_loader(str(tmp_path / "no_such_clip"))()


def tiny_local_clip(folder):
    """A randomly initialised, tiny transformers CLIP saved to a folder: the loading path, with no download."""
    import json

    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    words = ["a</w>", "handwritten</w>", "digit</w>", "seven</w>", "three</w>"]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{w: i + 2 for i, w in enumerate(words)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "eos_token_id": 1,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_clip_score_from_a_local_folder_with_an_overlong_prompt(tmp_path, recwarn):
    import torch

    from hddm.metrics.clip_score import make_clip_score

    metric = make_clip_score(str(tiny_local_clip(tmp_path)))
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    metric.update(list(images), ["a handwritten digit seven", " ".join(["three"] * 200)])  # 200 tokens > 77
    score = float(metric.compute())
    assert 0.0 <= score <= 100.0
    assert not any("longer than" in str(w.message) for w in recwarn)  # the tokenizer truncated, not torchmetrics
