"""DensityHeadModule: one contributor's density-ratio heads, trained on its own cluster against a public reference.

Each step draws as many reference items as own items, noises both on the Flow Matching path with the same t
(fresh noise each), and fits a binary classifier own-vs-reference with logistic loss. At the optimum, with
balanced classes, its logit is log p_own(x_t) / p_ref(x_t) at every t: the quantity decentralized routing adds
log pi_k to. Heads: "blind" sees (x_t, t) as the papers' router; "text" also the pooled prompt embedding.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from hddm.data.datasets import CaptionTableDataset
from hddm.lit.optim import adamw_cosine
from hddm.lit.router import ACCURACY_TIMES, TIME_SCALE
from hddm.models.dit import DiTConfig
from hddm.models.router import Router
from hddm.routing.scores import router_noised


class DensityHeadModule(L.LightningModule):
    def __init__(
        self,
        size: dict,
        in_channels: int,
        image_size: int,
        text_dim: int,
        kinds: list[str],
        reference: CaptionTableDataset,
        lr: float = 1e-3,
        lr_min: float = 1e-5,
        weight_decay: float = 1e-2,
        max_steps: int = 1000,
        seed: int = 0,
        identity: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["reference"])
        self.reference = reference
        self.heads = nn.ModuleDict(
            {
                kind: Router(DiTConfig(**size), in_channels, image_size, 1, text_dim if kind == "text" else None)
                for kind in kinds
            }
        )

    def paired(self, batch, generator):
        """Own items then as many reference items, clean, with their prompts and labels 1 / 0."""
        b = batch["x"].shape[0]
        ref = self.reference
        rows = torch.randint(len(ref), (b,), generator=generator)
        captions = ref.caption_index[rows]
        drawn = {
            "x": ref.images[rows].float() / 127.5 - 1.0,
            "text": ref.tokens[captions],
            "text_mask": ref.mask[captions],
        }

        def both(key):
            return torch.cat([batch[key], drawn[key].to(self.device, batch[key].dtype)])

        labels = torch.cat([torch.ones(b), torch.zeros(b)]).to(self.device)
        return both("x"), both("text"), both("text_mask"), labels

    def head_logits(self, kind, x_t, t, text, mask):
        text, mask = (text, mask) if kind == "text" else (None, None)
        return self.heads[kind](x_t, TIME_SCALE * t, text, mask).squeeze(-1)

    def noised(self, x, generator, t=None):
        """One t per own/reference pair (drawn unless given), fresh noise for every item."""
        b = x.shape[0] // 2
        t = torch.rand(b, generator=generator).repeat(2).to(self.device) if t is None else t
        return router_noised(x, torch.randn(x.shape, generator=generator).to(self.device), t), t

    def training_step(self, batch, batch_idx):
        g = torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + self.global_step * 7)
        x, text, mask, labels = self.paired(batch, g)
        x_t, t = self.noised(x, g)
        losses = {
            kind: F.binary_cross_entropy_with_logits(self.head_logits(kind, x_t, t, text, mask), labels)
            for kind in self.heads
        }
        for kind, loss in losses.items():
            self.log(f"train/loss_{kind}", loss, prog_bar=True)
        return sum(losses.values())

    def validation_step(self, batch, batch_idx):
        g = torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + batch_idx * 7 + 1)
        x, text, mask, labels = self.paired(batch, g)
        x_t, t = self.noised(x, g)
        for kind in self.heads:
            logits = self.head_logits(kind, x_t, t, text, mask)
            self.log(f"val/loss_{kind}", F.binary_cross_entropy_with_logits(logits, labels), prog_bar=True)
            self.log(f"val/accuracy_{kind}", ((logits > 0).float() == labels).float().mean())

    @torch.no_grad()
    def accuracy_by_time(self, loader, times=ACCURACY_TIMES, seed: int = 0) -> dict:
        """Held-out own-vs-reference accuracy of each head at each t of a fixed grid (balanced, fixed noise)."""
        self.eval()
        hits = {kind: {t: 0 for t in times} for kind in self.heads}
        total = 0
        g = torch.Generator().manual_seed(seed)
        for batch in loader:
            x, text, mask, labels = self.paired({k: v.to(self.device) for k, v in batch.items()}, g)
            total += labels.shape[0]
            for t_value in times:
                x_t, t = self.noised(x, g, torch.full((x.shape[0],), t_value, device=self.device))
                for kind in self.heads:
                    hits[kind][t_value] += int(
                        ((self.head_logits(kind, x_t, t, text, mask) > 0).float() == labels).sum()
                    )
        return {"n": total, **{kind: {str(t): h / total for t, h in row.items()} for kind, row in hits.items()}}

    def on_save_checkpoint(self, checkpoint):
        checkpoint["hddm_head"] = dict(self.hparams.identity or {})  # what a resume checks it continues

    def configure_optimizers(self):
        return adamw_cosine(self.heads.parameters(), self.device, self.hparams)
