"""Embedded-scale prompt adherence: the share of images generated for "digit N" that the project's own
MNIST classifier (hddm.models.digit_cnn) reads as N. An offline stand-in for CLIP score, named as such."""

from __future__ import annotations

import re

import torch

from hddm.data.mnist import DIGIT_WORDS
from hddm.models.digit_cnn import cached_digit_cnn

METRIC_NAME = "prompt_adherence_mnist_cnn"
_DIGIT = re.compile(r"\b(" + "|".join(DIGIT_WORDS) + r"|[0-9])\b")


def prompted_digit(prompt: str) -> int | None:
    found = _DIGIT.search(prompt.lower())
    if found is None:
        return None
    word = found.group(1)
    return int(word) if word.isdigit() else DIGIT_WORDS.index(word)


def mnist_prompt_adherence(images: torch.Tensor, prompts: list[str], cache_dir: str) -> dict | None:
    """None when a prompt names no digit; images are [N, 1, 28, 28] in [-1, 1], prompts[i] belongs to images[i]."""
    digits = [prompted_digit(p) for p in prompts]
    if any(d is None for d in digits):
        return None
    classifier, manifest = cached_digit_cnn(cache_dir)
    with torch.no_grad():
        predicted = classifier(images.clamp(-1, 1).float()).argmax(1)
    wanted = torch.tensor(digits)
    per_digit = {str(d): round(float((predicted[wanted == d] == d).float().mean()), 4) for d in sorted(set(digits))}
    return {
        "name": METRIC_NAME,
        "accuracy": round(float((predicted == wanted).float().mean()), 4),
        "per_digit": per_digit,
        "n": len(prompts),
        "classifier_sha256": manifest["sha256"],
        "classifier_test_accuracy": manifest["test_accuracy"],
    }
