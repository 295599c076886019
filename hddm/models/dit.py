"""Text-conditioned DiT with PixArt-alpha AdaLN-Single, in one file, with a registry of sizes.

AdaLN-Single: one global MLP maps the timestep embedding to the 6 modulation vectors of all blocks; each
block adds its own learned table to them. Text enters through cross-attention, whose output projection
starts at zero. Parameter names follow facebookresearch/DiT where the two share a part (x_embedder.proj,
t_embedder.mlp, blocks.i.attn.qkv/proj, blocks.i.mlp.fc1/fc2, final_layer.linear) so DiT checkpoints map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from hddm.errors import HddmError
from hddm.models.activations import gelu_tanh
from hddm.models.moe import make_moe_ffn


@dataclass(frozen=True)
class DiTConfig:
    hidden_size: int
    depth: int
    num_heads: int
    patch_size: int
    mlp_ratio: float = 4.0
    moe: str = (
        ""  # "" dense; "diffmoe", "tc" or "ec": every second block's FFN becomes an MoE layer (hddm/models/moe.py)
    )
    num_experts: int = 0


# tiny: a CPU size that learns MNIST digits in minutes (see shared calibration); the rest are DiT's sizes.
DIT_SIZES: dict[str, DiTConfig] = {
    "tiny": DiTConfig(hidden_size=128, depth=4, num_heads=4, patch_size=4),
    "dit_s2": DiTConfig(hidden_size=384, depth=12, num_heads=6, patch_size=2),
    "dit_b2": DiTConfig(hidden_size=768, depth=12, num_heads=12, patch_size=2),
    "dit_xl2": DiTConfig(hidden_size=1152, depth=28, num_heads=16, patch_size=2),
}
# DiffMoE (paper 003) and its TC/EC baselines: <kind>_<tiny|s|b|l>_e<N>, e.g. diffmoe_s_e16 (Table 1's S/B/L).
MOE_BASES = {
    "tiny": DIT_SIZES["tiny"],
    "s": DIT_SIZES["dit_s2"],
    "b": DIT_SIZES["dit_b2"],
    "l": DiTConfig(hidden_size=1024, depth=24, num_heads=16, patch_size=2),
}
DIT_SIZES.update(
    {
        f"{kind}_{base}_e{n}": replace(size, moe=kind, num_experts=n)
        for kind in ("diffmoe", "tc", "ec")
        for base, size in MOE_BASES.items()
        for n in (2, 4, 8, 16)
    }
)


def get_dit_size(name: str) -> DiTConfig:
    if name not in DIT_SIZES:
        raise HddmError(f"unknown model size {name!r}: choose one of {sorted(DIT_SIZES)} (model=<name>)")
    return DIT_SIZES[name]


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine positional embedding [grid_h * grid_w, embed_dim]: first half encodes the column,
    second half the row, exactly as DiT's get_2d_sincos_pos_embed (so converted DiT weights see the same)."""

    def axis(dim, positions):
        omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
        angles = positions.reshape(-1, 1).double() * omega[None]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    return torch.cat([axis(embed_dim // 2, cols), axis(embed_dim // 2, rows)], dim=1).float()


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, hidden_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()  # token-major: every residual add stays aligned


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of the (scaled, possibly fractional) timestep, then an MLP."""

    def __init__(self, hidden_size: int, frequency_size: int = 256):
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequency_size // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).to(self.mlp[0].weight.dtype))


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x):
        return self.fc2(gelu_tanh(self.fc1(x)))


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, context, attn_mask):
        """attn_mask: bool [B, 1, 1, L], True where a text token may be attended to (or None)."""
        b, n, d = x.shape
        heads, head_dim = self.num_heads, d // self.num_heads
        q = self.q(x).view(b, n, heads, head_dim).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, heads, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class DiTBlock(nn.Module):
    """AdaLN-Single block; cross_attention=False gives the text-free block of the router."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        mlp_ratio: float,
        cross_attention: bool = True,
        mlp: nn.Module | None = None,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(hidden_size, num_heads)
        self.cross_attn = CrossAttention(hidden_size, num_heads) if cross_attention else None
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = mlp if mlp is not None else Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.scale_shift_table = nn.Parameter(torch.randn(6, hidden_size) / hidden_size**0.5)

    def forward(self, x, context, attn_mask, t_mod):
        """t_mod: [B, 6, hidden], the global AdaLN-Single output shared by all blocks."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (self.scale_shift_table[None] + t_mod).unbind(
            1
        )
        x = x + gate_msa[:, None] * self.attn(modulate(self.norm1(x), shift_msa[:, None], scale_msa[:, None]))
        if self.cross_attn is not None:
            x = x + self.cross_attn(x, context, attn_mask)
        return x + gate_mlp[:, None] * self.mlp(modulate(self.norm2(x), shift_mlp[:, None], scale_mlp[:, None]))


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.scale_shift_table = nn.Parameter(torch.randn(2, hidden_size) / hidden_size**0.5)

    def forward(self, x, t_emb):
        shift, scale = (self.scale_shift_table[None] + t_emb[:, None]).unbind(1)
        return self.linear(modulate(self.norm_final(x), shift[:, None], scale[:, None]))


def block_ffn(size: DiTConfig, index: int) -> nn.Module | None:
    """DiffMoE's layout: the even FFNs (blocks 2, 4, ... counting from 1) become MoE layers; None = dense Mlp."""
    if not size.moe or index % 2 == 0:
        return None
    return make_moe_ffn(size.moe, size.hidden_size, int(size.hidden_size * size.mlp_ratio), size.num_experts)


class DiT(nn.Module):
    """forward(x [B, C, H, W], t_model [B], text [B, L, text_dim], text_mask [B, L] bool) -> [B, C, H, W]."""

    def __init__(self, size: DiTConfig, in_channels: int, image_size: int, text_dim: int):
        super().__init__()
        if image_size % size.patch_size:
            raise HddmError(
                f"image size {image_size} is not divisible by patch size {size.patch_size}: pick another model size"
            )
        if size.hidden_size % size.num_heads or size.hidden_size % 4:
            raise HddmError(f"hidden size {size.hidden_size} must be divisible by 4 and by num_heads {size.num_heads}")
        self.size, self.in_channels, self.image_size = size, in_channels, image_size
        hidden, p = size.hidden_size, size.patch_size
        grid = image_size // p
        self.x_embedder = PatchEmbed(p, in_channels, hidden)
        self.register_buffer("pos_embed", sincos_2d(hidden, grid, grid)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(hidden)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))  # the global AdaLN-Single MLP
        self.y_embedder = Mlp(text_dim, hidden, hidden)  # caption projection
        self.blocks = nn.ModuleList(
            DiTBlock(hidden, size.num_heads, size.mlp_ratio, mlp=block_ffn(size, i)) for i in range(size.depth)
        )
        self.final_layer = FinalLayer(hidden, p, in_channels)
        self.initialize_weights()

    def initialize_weights(self):
        def xavier(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:  # the MoE gate W_r has none
                    nn.init.zeros_(module.bias)

        self.apply(xavier)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        for layer in (
            self.t_embedder.mlp[0],
            self.t_embedder.mlp[2],
            self.t_block[1],
            self.y_embedder.fc1,
            self.y_embedder.fc2,
        ):
            nn.init.normal_(layer.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.cross_attn.proj.weight)  # text enters gradually, from an unconditional start
            nn.init.zeros_(block.cross_attn.proj.bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, p*p*C] -> [B, C, H, W], channel index fastest within each patch (DiT's layout)."""
        p, c, g = self.size.patch_size, self.in_channels, self.image_size // self.size.patch_size
        x = x.reshape(x.shape[0], g, g, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, g * p, g * p)

    def forward(self, x, t_model, text, text_mask=None):
        tokens = self.x_embedder(x) + self.pos_embed
        t_emb = self.t_embedder(t_model)
        t_mod = self.t_block(t_emb).view(x.shape[0], 6, -1)
        context = self.y_embedder(text)
        attn_mask = None if text_mask is None else text_mask[:, None, None, :]
        for block in self.blocks:
            tokens = block(tokens, context, attn_mask, t_mod)
        return self.unpatchify(self.final_layer(tokens, t_emb))
