"""Classifier-free guidance in velocity space, conditional and unconditional passes in one batch."""

from __future__ import annotations

import torch


def guided(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """v = v_uncond + w (v_cond - v_uncond); w = 1 is the plain conditional field."""
    return v_uncond + scale * (v_cond - v_uncond)


def split_guided(v_both: torch.Tensor, scale: float) -> torch.Tensor:
    """v_both stacks [cond; uncond] along the batch (the order doubled_batch builds)."""
    v_cond, v_uncond = v_both.chunk(2)
    return guided(v_cond, v_uncond, scale)


def doubled_batch(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x])
