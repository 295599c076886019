"""RouterModule: the router classifier trained on all clusters with cross-entropy against cluster ids.

Every sample is noised on the Flow Matching path x_t = (1 - t) x0 + t eps with t ~ U(0, 1), whatever the
experts' objectives (the state the ensemble integrates), and the backbone sees 999 t (supplement, Sec. 1.3).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from hddm.lit.optim import adamw_cosine
from hddm.models.dit import DiTConfig
from hddm.models.router import Router
from hddm.routing.scores import router_noised

TIME_SCALE = 999.0
ACCURACY_TIMES = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))  # the held-out accuracy-vs-t grid


class RouterModule(L.LightningModule):
    def __init__(
        self,
        size: dict,
        in_channels: int,
        image_size: int,
        num_clusters: int,
        text_dim: int | None = None,
        lr: float = 5e-5,
        lr_min: float = 5e-7,
        weight_decay: float = 1e-2,
        max_steps: int = 1000,
        seed: int = 0,
        manifest: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = Router(DiTConfig(**size), in_channels, image_size, num_clusters, text_dim)

    def _text(self, batch):
        return (batch["text"], batch["text_mask"]) if self.hparams.text_dim else (None, None)

    def logits(self, batch, t, eps):
        return self.model(router_noised(batch["x"], eps, t), TIME_SCALE * t, *self._text(batch))

    def training_step(self, batch, batch_idx):
        g = torch.Generator(self.device).manual_seed(self.hparams.seed * 1_000_003 + self.global_step * 7)
        t = torch.rand(batch["x"].shape[0], device=self.device, generator=g)
        eps = torch.randn(batch["x"].shape, device=self.device, generator=g)
        loss = F.cross_entropy(self.logits(batch, t, eps), batch["cluster"])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        g = torch.Generator(self.device).manual_seed(self.hparams.seed * 1_000_003 + batch_idx * 7 + 1)
        t = torch.rand(batch["x"].shape[0], device=self.device, generator=g)
        eps = torch.randn(batch["x"].shape, device=self.device, generator=g)
        logits = self.logits(batch, t, eps)
        self.log("val/loss", F.cross_entropy(logits, batch["cluster"]), prog_bar=True)
        self.log("val/accuracy", (logits.argmax(-1) == batch["cluster"]).float().mean(), prog_bar=True)

    @torch.no_grad()
    def accuracy_by_time(self, loader, times=ACCURACY_TIMES, seed: int = 0) -> dict[str, float]:
        """Held-out top-1 and top-2 routing accuracy at each t of a fixed grid, with fixed noise."""
        self.eval()
        hits = {t: [0, 0] for t in times}
        total = 0
        g = torch.Generator().manual_seed(seed)
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            total += batch["x"].shape[0]
            for t in times:
                eps = torch.randn(batch["x"].shape, generator=g).to(self.device)
                top2 = (
                    self.logits(batch, torch.full((batch["x"].shape[0],), t, device=self.device), eps)
                    .topk(2, -1)
                    .indices
                )
                hits[t][0] += int((top2[:, 0] == batch["cluster"]).sum())
                hits[t][1] += int((top2 == batch["cluster"][:, None]).any(-1).sum())
        return {
            "n": total,
            "top1": {str(t): h[0] / total for t, h in hits.items()},
            "top2": {str(t): h[1] / total for t, h in hits.items()},
        }

    def configure_optimizers(self):
        return adamw_cosine(self.model.parameters(), self.device, self.hparams)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["hddm_router"] = dict(self.hparams.manifest or {})
