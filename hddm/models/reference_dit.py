"""facebookresearch/DiT's models.py in miniature: DiT's exact key names, shapes and maths (adaLN-Zero, class labels).

Not an hddm backbone: the reference that hddm.convert_dit is tested against (tests/test_convert_dit.py) and that
the dit_init experiment pretrains and converts. Beyond an eval forward it has what training needs:
  * LabelEmbedder.token_drop: during training a label is replaced by the null class `num_classes` with
    probability class_dropout_prob (the extra embedding row that hddm.convert_dit reads as the null class);
  * DiT.initialize_weights: xavier-uniform Linear layers with zero bias, xavier on the flattened patch conv,
    N(0, 0.02) for the label table and the timestep MLP, adaLN-Zero (every adaLN_modulation output layer
    zero) and a zero final linear layer.
timm's Attention / Mlp carry no parameters beyond qkv/proj and fc1/fc2, so the state_dict keys are DiT's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hddm.models.dit import DiTConfig


def dit_modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def dit_pos_embed(embed_dim, grid_size):
    """DiT's get_2d_sincos_pos_embed (from MAE): the first half encodes the column, the second the row."""

    def one_axis(dim, pos):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid, grid), axis=0).reshape(2, 1, grid_size, grid_size)  # w goes first
    return np.concatenate([one_axis(embed_dim // 2, grid[0]), one_axis(embed_dim // 2, grid[1])], axis=1)


class PatchEmbed(nn.Module):  # timm
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):  # timm, qkv_bias=True (fused SDPA: the same maths as timm's explicit softmax)
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):  # timm, with DiT's approximate GELU
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )
        self.frequency_embedding_size = frequency_embedding_size

    def forward(self, t):
        half = self.frequency_embedding_size // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, hidden_size, dropout_prob):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden_size)  # + null class
        self.num_classes, self.dropout_prob = num_classes, dropout_prob

    def token_drop(self, labels, generator=None):
        drop = torch.rand(labels.shape[0], generator=generator) < self.dropout_prob
        return torch.where(drop, torch.full_like(labels, self.num_classes), labels)

    def forward(self, labels, train=False, generator=None):
        if train and self.dropout_prob > 0:
            labels = self.token_drop(labels, generator)
        return self.embedding_table(labels)


class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(dit_modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(dit_modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(dit_modulate(self.norm_final(x), shift, scale))


class ReferenceDiT(nn.Module):
    """forward(x [B, C, H, W], t [B] in DiT's timestep units 0..999, y [B] labels) -> [B, 2C, H, W] (learn_sigma)."""

    def __init__(self, size: DiTConfig, input_size, in_channels, num_classes, class_dropout_prob=0.1, learn_sigma=True):
        super().__init__()
        self.in_channels, self.patch_size, self.num_classes = in_channels, size.patch_size, num_classes
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.x_embedder = PatchEmbed(size.patch_size, in_channels, size.hidden_size)
        self.t_embedder = TimestepEmbedder(size.hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, size.hidden_size, class_dropout_prob)
        grid = input_size // size.patch_size
        pos_embed = torch.from_numpy(dit_pos_embed(size.hidden_size, grid)).float()[None]
        self.pos_embed = nn.Parameter(pos_embed, requires_grad=False)  # in DiT's state_dict, never trained
        self.blocks = nn.ModuleList(
            DiTBlock(size.hidden_size, size.num_heads, size.mlp_ratio) for _ in range(size.depth)
        )
        self.final_layer = FinalLayer(size.hidden_size, size.patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self):
        def basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(basic_init)
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:  # adaLN-Zero
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def unpatchify(self, x):
        c, p = self.out_channels, self.patch_size
        h = int(x.shape[1] ** 0.5)
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(x.shape[0], h, h, p, p, c))
        return x.reshape(x.shape[0], c, h * p, h * p)

    def forward(self, x, t, y, train=False, generator=None):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y, train, generator)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final_layer(x, c))
