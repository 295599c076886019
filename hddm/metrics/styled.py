"""Prompt adherence on styled digits, read by the shipped styled-cnn (hddm.models.styled_cnn): the share of images
generated for "digit N" that its digit head reads as N, and, over the prompts that name a domain, the share that its
domain head reads as that domain. Offline stand-ins for CLIP score, named as such."""

from __future__ import annotations

import torch

from hddm.data.styled_digits import prompted_domain
from hddm.metrics.adherence import prompted_digit
from hddm.models.digit_cnn import one_thread
from hddm.models.styled_cnn import shipped_styled_cnn

DIGIT_ADHERENCE = "digit_adherence_styled_cnn"
DOMAIN_ADHERENCE = "domain_adherence_styled_cnn"


def wanted_labels(prompts: list[str], domain_names: list[str]) -> tuple[list[int | None], list[int | None]]:
    """(digit, domain index) each prompt asks for; None where it names none (or a domain the network does not know)."""
    domains = [prompted_domain(p) for p in prompts]
    return [prompted_digit(p) for p in prompts], [domain_names.index(d) if d in domain_names else None for d in domains]


@torch.no_grad()
@one_thread()
def styled_logits(images: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    model, _ = shipped_styled_cnn()
    parts = [model.both_logits(chunk.clamp(-1, 1).float().cpu()) for chunk in images.split(batch)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def share(hits: torch.Tensor) -> float | None:
    return round(float(hits.float().mean()), 4) if len(hits) else None


def styled_adherence(images: torch.Tensor, prompts: list[str]) -> dict | None:
    """None when a prompt names no digit; images are [N, 3, 28, 28] in [-1, 1], prompts[i] belongs to images[i]."""
    _, manifest = shipped_styled_cnn()
    digits, domains = wanted_labels(prompts, manifest["domains"])
    if any(d is None for d in digits):
        return None
    digit_logits, domain_logits = styled_logits(images)
    digit_hits = digit_logits.argmax(1) == torch.tensor(digits)
    named = torch.tensor([d is not None for d in domains])
    domain_hits = domain_logits.argmax(1)[named] == torch.tensor(
        [d for d in domains if d is not None], dtype=torch.long
    )
    wanted = torch.tensor(digits)
    return {
        DIGIT_ADHERENCE: share(digit_hits),
        DOMAIN_ADHERENCE: share(domain_hits),
        "n": len(prompts),
        "n_naming_a_domain": int(named.sum()),
        "per_digit": {str(d): share(digit_hits[wanted == d]) for d in sorted(set(digits))},
        "predicted_domains": {
            name: int((domain_logits.argmax(1) == i).sum()) for i, name in enumerate(manifest["domains"])
        },
        "classifier": {"name": "styled-cnn", "sha256": manifest["sha256"], "test_accuracy": manifest["test_accuracy"]},
    }
