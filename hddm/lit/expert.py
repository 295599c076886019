"""ExpertModule: one diffusion expert (DDPM-epsilon or Flow Matching) trained on one cluster."""

from __future__ import annotations

import lightning as L
import torch

from hddm.diffusion.objectives import make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.errors import HddmError
from hddm.lit.optim import adamw
from hddm.models.dit import DiT, DiTConfig
from hddm.models.moe_accounting import capacity_predictor_loss, load_balancing_loss

T_BINS = 4  # validation loss is also reported per quarter of [0, 1], where objectives differ most


class NonFiniteLoss(HddmError):
    pass


class ExpertModule(L.LightningModule):
    def __init__(
        self,
        size: dict,
        in_channels: int,
        image_size: int,
        text_dim: int,
        null_text: torch.Tensor,
        null_mask: torch.Tensor,
        prediction: str,
        schedule: str,
        time_scale: float = 999.0,
        lr: float = 1e-4,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 5000,
        cfg_dropout: float = 0.1,
        moe_balance: float = 0.0,
        seed: int = 0,
        manifest: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["null_text", "null_mask"])
        self.model = DiT(DiTConfig(**size), in_channels, image_size, text_dim)
        self.objective = make_objective(prediction, get_schedule(schedule), time_scale)
        # The empty prompt's embedding: the unconditional input for CFG dropout and guidance.
        self.register_buffer("null_text", null_text.float().clone())
        self.register_buffer("null_mask", null_mask.bool().clone())

    def forward(self, x, t, text, text_mask):
        """Raw network output (epsilon or velocity) at continuous times t in [0, 1]."""
        return self.model(x, self.objective.model_time(t), text, text_mask)

    def _step_generator(self, step: int, salt: int) -> torch.Generator:
        # Randomness is a function of (seed, step): a resumed run draws exactly what an uninterrupted one would.
        return torch.Generator(self.device).manual_seed(self.hparams.seed * 1_000_003 + step * 7 + salt)

    def _loss(self, batch, generator, cfg_dropout: float) -> torch.Tensor:
        x0, text, mask = batch["x"], batch["text"], batch["text_mask"]
        b = x0.shape[0]
        t = torch.rand(b, device=self.device, generator=generator)
        eps = torch.randn(x0.shape, device=self.device, generator=generator)
        if cfg_dropout > 0:
            drop = torch.rand(b, device=self.device, generator=generator) < cfg_dropout
            text = torch.where(drop[:, None, None], self.null_text[None], text)
            mask = torch.where(drop[:, None], self.null_mask[None], mask)
        prediction = self(self.objective.noisy_sample(x0, eps, t), t, text, mask)
        return self.objective.loss(prediction, x0, eps, t), t

    def training_step(self, batch, batch_idx):
        per_sample, _ = self._loss(batch, self._step_generator(self.global_step, 0), self.hparams.cfg_dropout)
        loss = per_sample.mean()
        if not torch.isfinite(loss):
            raise NonFiniteLoss(
                f"non-finite loss at step {self.global_step}: nothing from this step on is saved (a re-run resumes "
                "from the last checkpoint written, if any): lower optim.lr or check the data"
            )
        self.log("train/loss", loss, prog_bar=True)
        total = loss
        predictor_loss = capacity_predictor_loss(self.model)  # DiffMoE: detached inputs, diffusion grads unchanged
        if predictor_loss is not None:
            self.log("train/capacity_predictor_loss", predictor_loss)
            total = total + predictor_loss
        balance = load_balancing_loss(self.model) if self.hparams.moe_balance > 0 else None
        if balance is not None:
            self.log("train/moe_balance_loss", balance)
            total = total + self.hparams.moe_balance * balance
        return total

    def validation_step(self, batch, batch_idx):
        per_sample, t = self._loss(batch, self._step_generator(batch_idx, 1), cfg_dropout=0.0)
        self.log("val/loss", per_sample.mean(), prog_bar=True, batch_size=len(t))
        bins = (t * T_BINS).long().clamp(max=T_BINS - 1)
        for k in range(T_BINS):
            chosen = bins == k
            if chosen.any():
                self.log(f"val/loss_t{k}", per_sample[chosen].mean(), batch_size=int(chosen.sum()))

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = adamw(self.model.parameters(), self.device, hp.lr, hp.betas, hp.eps, hp.weight_decay)
        warmup = max(1, hp.warmup_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint):
        # Every checkpoint says what the expert is: objective, schedule, time scaling, cluster, data, text encoder.
        checkpoint["hddm_expert"] = dict(self.hparams.manifest or {})
