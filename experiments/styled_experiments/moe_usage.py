"""How many of the K-parameter monolithic model's experts its tokens use: each MoE layer's share of tokens per expert
on the row's own samples (sampling seed 0), noised at t ~ U(0, 1), with the empty prompt.

    .venv/bin/python experiments/styled_experiments/moe_usage.py [RUN ...]   (default: monolithic_moe)

Prints, per training seed and layer, the experts that get any token, the largest share, and the effective number of
experts 1 / sum(share^2) (35 when balanced, 1 when one expert takes everything).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from hddm.ensemble.members import load_expert

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "runs" / "styled_experiments"


def usage(run: str, seed: int, n: int = 160) -> list[str]:
    expert = load_expert(OUT / "experts" / f"{run}_s{seed}" / "expert")
    x0 = torch.load(OUT / "samples" / f"s{seed}" / f"{run}_r0" / "samples.pt", weights_only=True)[:n]
    generator = torch.Generator().manual_seed(0)
    t = torch.rand(len(x0), generator=generator)
    x_t = expert.objective.noisy_sample(x0, torch.randn(x0.shape, generator=generator), t)
    text = expert.null_text.expand(len(x0), *expert.null_text.shape)
    mask = expert.null_mask.expand(len(x0), *expert.null_mask.shape)
    with torch.no_grad():
        expert.network(x_t, expert.objective.model_time(t), text, mask)
    lines = []
    for name, layer in expert.network.named_modules():
        if hasattr(layer, "experts"):
            share = layer.last_counts.float() / layer.last_counts.sum()
            lines.append(
                f"{run} seed {seed} {name}: {int((share > 0).sum())}/{len(share)} experts get tokens, largest share "
                f"{share.max():.3f}, effective number {1 / (share**2).sum():.1f}"
            )
    return lines


if __name__ == "__main__":
    for run in sys.argv[1:] or ["monolithic_moe"]:
        for seed in (0, 1):
            print("\n".join(usage(run, seed)))
