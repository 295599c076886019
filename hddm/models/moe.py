"""Mixture-of-experts feed-forward layers for the DiT: DiffMoE and the paper's TC/EC baselines.

DiffMoE (paper 003): in training, batch and tokens are flattened into one global pool and every expert takes
its top B*S/N tokens by gate score (expert choice, capacity 1, no balancing loss). A capacity predictor (two
layers, SiLU, on detached inputs) learns that selection with BCE; per-expert thresholds follow an EMA (0.95)
of its k-th largest score. At inference a token goes to every expert whose predictor score exceeds the
threshold (`dynamic`) or a fixed `gamma`, so a sample's output never depends on the rest of the batch; `topk`
is the paper's fixed top-K ablation, taken within each sample. Experts are full-size FFNs, so at capacity 1
the activated parameters equal the dense DiT's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hddm.choices import MoEInference, names
from hddm.errors import HddmError
from hddm.models.activations import gelu_tanh

INFERENCE_MODES = names(MoEInference)
THRESHOLD_EMA = 0.95


class ExpertFFNs(nn.Module):
    """N GELU FFNs with stacked weights: equal-sized token groups run as one batched matmul."""

    def __init__(self, num_experts: int, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(num_experts, dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(num_experts, hidden))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden, dim))
        self.b2 = nn.Parameter(torch.zeros(num_experts, dim))
        bound1, bound2 = (6 / (dim + hidden)) ** 0.5, (6 / (hidden + dim)) ** 0.5  # xavier, as the dense FFN
        nn.init.uniform_(self.w1, -bound1, bound1)
        nn.init.uniform_(self.w2, -bound2, bound2)

    def batched(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, K, D] (K tokens per expert) -> [N, K, D]."""
        h = gelu_tanh(torch.baddbmm(self.b1[:, None], x, self.w1))
        return torch.baddbmm(self.b2[:, None], h, self.w2)

    def one(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """x [K, D] through expert i."""
        return torch.addmm(self.b2[i], gelu_tanh(torch.addmm(self.b1[i], x, self.w1[i])), self.w2[i])


class MoEFFN(nn.Module):
    """Shared parts: gate W_r, experts, and the token counts of the last forward (for C_infer)."""

    def __init__(self, dim: int, hidden: int, num_experts: int):
        super().__init__()
        if num_experts < 2:
            raise HddmError(f"an MoE layer needs at least 2 experts, not {num_experts}: set num_experts")
        self.num_experts = num_experts
        self.gate = nn.Linear(dim, num_experts, bias=False)
        self.experts = ExpertFFNs(num_experts, dim, hidden)
        self.last_counts: torch.Tensor | None = None  # tokens each expert processed in the last forward
        self.last_pool = 0  # tokens that entered the layer in the last forward

    def scores(self, pool: torch.Tensor) -> torch.Tensor:
        return self.gate(pool).softmax(dim=-1)

    def _record(self, counts: torch.Tensor, pool_size: int):
        self.last_counts, self.last_pool = counts.detach(), pool_size

    def _sparse(self, pool: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each expert runs only on the tokens with a non-zero weight; outputs summed with those weights."""
        out = torch.zeros_like(pool)
        for i in range(self.num_experts):
            rows = weights[:, i].nonzero().squeeze(1)
            if len(rows):
                out.index_add_(0, rows, weights[rows, i, None] * self.experts.one(i, pool[rows]))
        self._record((weights != 0).sum(0), len(pool))
        return out


class DiffMoEFFN(MoEFFN):
    def __init__(self, dim: int, hidden: int, num_experts: int):
        super().__init__(dim, hidden, num_experts)
        self.predictor = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, num_experts))
        # A frozen parameter rather than a buffer so the weight EMA carries it into exported bundles.
        self.thresholds = nn.Parameter(torch.full((num_experts,), 0.5), requires_grad=False)
        self.inference, self.gamma, self.capacity = "dynamic", 0.5, 1.0
        self.cp_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        pool = x.reshape(b * s, d)
        out = self.pooled_train(pool) if self.training else self.pooled_infer(pool, s)
        return out.view(b, s, d)

    def pooled_train(self, pool: torch.Tensor) -> torch.Tensor:
        k = len(pool) // self.num_experts
        gating, index = self.scores(pool).t().topk(k, dim=-1)  # [N, k]: each expert's tokens from the whole pool
        expert_out = self.experts.batched(pool[index]) * gating[..., None]
        out = torch.zeros_like(pool).index_add_(0, index.reshape(-1), expert_out.reshape(-1, pool.shape[1]))
        selected = torch.zeros(self.num_experts, len(pool), device=pool.device).scatter_(1, index, 1.0).t()
        logits = self.predictor(pool.detach())
        self.cp_loss = F.binary_cross_entropy_with_logits(logits, selected)
        self._update_thresholds(logits.detach().sigmoid(), k)
        self._record(selected.sum(0), len(pool))
        return out

    @torch.no_grad()
    def _update_thresholds(self, predicted: torch.Tensor, k: int):
        kth = predicted.topk(k, dim=0).values[-1]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(kth)  # one threshold for all processes: the mean of their k-th scores
            kth /= torch.distributed.get_world_size()
        self.thresholds.mul_(THRESHOLD_EMA).add_((1 - THRESHOLD_EMA) * kth)

    def pooled_infer(self, pool: torch.Tensor, seq_len: int) -> torch.Tensor:
        scores = self.scores(pool)
        if self.inference == "topk":
            active = per_sample_top(scores, seq_len, round(self.capacity * seq_len / self.num_experts))
        else:
            predicted = self.predictor(pool).sigmoid()
            active = predicted > (self.thresholds if self.inference == "dynamic" else self.gamma)
        return self._sparse(pool, scores * active)


def per_sample_top(scores: torch.Tensor, seq_len: int, k: int) -> torch.Tensor:
    """Bool [B*S, N]: each expert's top-k tokens within each sample (EC-DiT, and DiffMoE's top-K ablation)."""
    n = scores.shape[1]
    per_sample = scores.view(-1, seq_len, n).transpose(1, 2)  # [B, N, S]
    index = per_sample.topk(max(0, min(k, seq_len)), dim=-1).indices
    return torch.zeros_like(per_sample, dtype=torch.bool).scatter_(2, index, True).transpose(1, 2).reshape(-1, n)


class TokenChoiceFFN(MoEFFN):
    """TC-DiT: every token goes to its top-1 expert, weighted by its gate score. In training it also keeps Switch
    Transformer's load-balancing loss N * sum_i f_i P_i (f: share of tokens routed to i, P: mean gate probability;
    1 when balanced), which the training loss adds with weight optim.moe_balance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        pool = x.reshape(b * s, d)
        scores = self.scores(pool)
        top1 = F.one_hot(scores.argmax(-1), self.num_experts).bool()
        if self.training:
            self.balance_loss = self.num_experts * (top1.float().mean(0) * scores.mean(0)).sum()
        return self._sparse(pool, scores * top1).view(b, s, d)


class ExpertChoiceFFN(MoEFFN):
    """EC-DiT: within each sample, every expert takes its top S/N tokens (same in training and inference)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        n, k = self.num_experts, s // self.num_experts
        gating, index = self.gate(x).softmax(-1).transpose(1, 2).topk(k, dim=-1)  # [B, N, k]
        chosen = torch.gather(x[:, None].expand(b, n, s, d), 2, index[..., None].expand(b, n, k, d))
        expert_out = self.experts.batched(chosen.transpose(0, 1).reshape(n, b * k, d)).view(n, b, k, d)
        expert_out = expert_out.transpose(0, 1) * gating[..., None]
        out = torch.zeros_like(x).scatter_add_(
            1, index.reshape(b, n * k, 1).expand(b, n * k, d), expert_out.reshape(b, n * k, d)
        )
        self._record(torch.full((n,), b * k, device=x.device), b * s)
        return out


def make_moe_ffn(kind: str, dim: int, hidden: int, num_experts: int) -> MoEFFN:
    layers = {"diffmoe": DiffMoEFFN, "tc": TokenChoiceFFN, "ec": ExpertChoiceFFN}
    if kind not in layers:
        raise HddmError(f"unknown MoE kind {kind!r}: choose one of {sorted(layers)} (model.moe=...)")
    return layers[kind](dim, hidden, num_experts)
