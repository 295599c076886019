"""The optimizer every hddm module trains with: AdamW, fused on CPUs.

On a CPU torch's fused AdamW kernel is ~4.5x faster than its default per-parameter loop (bench/bench_dit.py
measures it: about 10 % of a tiny-DiT training step). On GPUs torch's default (foreach) is kept, so Lightning's
gradient clipping stays available under fp16 mixed precision, which fused optimizers' own unscaling forbids.
"""

from __future__ import annotations

import torch


def adamw(
    parameters, device: torch.device, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
) -> torch.optim.AdamW:
    fused = True if torch.device(device).type == "cpu" else None
    return torch.optim.AdamW(parameters, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, fused=fused)


def adamw_cosine(parameters, device: torch.device, hp) -> dict:
    """Lightning's optimizer config of the classifiers (router, density-ratio heads): AdamW with hp.lr and
    hp.weight_decay, cosine-annealed per step to hp.lr_min over hp.max_steps, no warm-up (supplement 1.3)."""
    optimizer = adamw(parameters, device, hp.lr, weight_decay=hp.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, hp.max_steps), eta_min=hp.lr_min)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
