"""The router: a DiT classifier on the noisy state (x_t, t) that scores which expert's cluster it came from.

Same trunk as the experts (patch embedding, fixed 2-D sincos positions, timestep embedder, AdaLN-Single
blocks) without cross-attention; tokens are mean-pooled into K logits. Optionally text-aware: the pooled
prompt embedding joins the timestep embedding (none of the papers has it; an hddm option).
"""

from __future__ import annotations

import torch
from torch import nn

from hddm.models.dit import DiTBlock, DiTConfig, Mlp, PatchEmbed, TimestepEmbedder, sincos_2d


def pooled_text(text: torch.Tensor, text_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of the valid token states: [B, L, D] -> [B, D]."""
    if text_mask is None:
        return text.mean(1)
    weights = text_mask.to(text.dtype)[..., None]
    return (text * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Router(nn.Module):
    """forward(x [B, C, H, W], t_model [B], text=None, text_mask=None) -> logits [B, num_experts]."""

    def __init__(
        self, size: DiTConfig, in_channels: int, image_size: int, num_experts: int, text_dim: int | None = None
    ):
        super().__init__()
        hidden, grid = size.hidden_size, image_size // size.patch_size
        self.size, self.num_experts, self.text_dim = size, num_experts, text_dim
        self.x_embedder = PatchEmbed(size.patch_size, in_channels, hidden)
        self.register_buffer("pos_embed", sincos_2d(hidden, grid, grid)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(hidden)
        self.text_embedder = Mlp(text_dim, hidden, hidden) if text_dim else None
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))
        self.blocks = nn.ModuleList(
            DiTBlock(hidden, size.num_heads, size.mlp_ratio, cross_attention=False) for _ in range(size.depth)
        )
        self.norm_final = nn.LayerNorm(hidden, eps=1e-6)
        self.head = nn.Linear(hidden, num_experts)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.t_block[1].weight, std=0.02)
        nn.init.zeros_(self.head.weight)  # uniform routing at initialisation

    def forward(self, x, t_model, text=None, text_mask=None):
        tokens = self.x_embedder(x) + self.pos_embed
        condition = self.t_embedder(t_model)
        if self.text_embedder is not None:
            condition = condition + self.text_embedder(pooled_text(text, text_mask))
        t_mod = self.t_block(condition).view(x.shape[0], 6, -1)
        for block in self.blocks:
            tokens = block(tokens, None, None, t_mod)
        return self.head(self.norm_final(tokens.mean(1)))
