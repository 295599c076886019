"""Metric callbacks for expert and router training: every N steps, a small sample budget is drawn and scored,
the numbers go to every configured logger (CSV, TensorBoard, wandb) and a sample grid to the run folder
(and to TensorBoard / wandb when those log).

Off by default (tests and fast_dev_run never pay for them): `python -m hddm.train +callbacks=expert_metrics`,
`python -m hddm.train_router +callbacks=router_metrics 'callbacks.router_metrics.experts=[...]'`.
Scores on MNIST: domain FID (mnist-cnn) against the test split's cached statistics and prompt adherence
(mnist-cnn); the expert callback samples with the EMA weights when the EMA callback runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from hddm.config import TextConfig
from hddm.data.mnist import digit_prompt
from hddm.diffusion.conversion import Conversion
from hddm.diffusion.solvers import euler
from hddm.ensemble.field import EnsembleField
from hddm.ensemble.guidance import sample_expert
from hddm.ensemble.members import Expert, load_expert
from hddm.grids import save_labelled_grid
from hddm.lit.data import prompt_embeddings
from hddm.lit.ema import EMA
from hddm.lit.router import TIME_SCALE
from hddm.metrics.adherence import METRIC_NAME as ADHERENCE_NAME
from hddm.metrics.adherence import mnist_prompt_adherence
from hddm.metrics.domain_fid import METRIC_NAME as DOMAIN_FID_NAME
from hddm.metrics.domain_fid import domain_fid_implementation, make_domain_fid
from hddm.metrics.fid import to_uint8
from hddm.metrics.reference_stats import load_reference, reference_images
from hddm.routing.scores import TrainedRouterScores
from hddm.routing.strategies import Routing


class SampleMetrics(Callback, ABC):
    """Shared schedule, scoring and logging; subclasses draw the images."""

    def __init__(
        self,
        every_n_steps: int,
        n: int,
        steps: int,
        cfg_scale: float,
        text: dict,
        data: dict,
        cache_dir: str,
        prompts: list[str] | None = None,
        reference_max_items: int | None = 2000,
        seed: int = 0,
    ):
        self.every_n_steps, self.n, self.steps, self.cfg_scale, self.seed = every_n_steps, n, steps, cfg_scale, seed
        self.text, self.data, self.cache_dir = (
            TextConfig(text["name"], dict(text.get("kwargs") or {})),
            dict(data),
            cache_dir,
        )
        self.mnist = self.data["name"] == "mnist"
        chosen = list(prompts or [digit_prompt(d) for d in range(10)])
        self.prompts = [chosen[i % len(chosen)] for i in range(n)]
        self.reference_max_items = reference_max_items
        self.domain_fid = None

    @abstractmethod
    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule, tokens, mask, noise) -> torch.Tensor:
        """Images [n, C, H, W] in [-1, 1] from noise, for self.prompts (embedded as tokens, mask)."""

    def scores(self, images: torch.Tensor) -> dict[str, float]:
        if not self.mnist:
            return {}
        if self.domain_fid is None:  # the reference statistics are read (or computed once) on first use
            self.domain_fid = make_domain_fid(self.cache_dir)
            reference, source = reference_images("mnist", "test", self.cache_dir, self.reference_max_items)
            load_reference(
                self.domain_fid,
                DOMAIN_FID_NAME,
                domain_fid_implementation(self.domain_fid.inception),
                reference,
                source,
                self.cache_dir,
                batch_size=500,
            )
        self.domain_fid.reset()
        self.domain_fid.update(to_uint8(images.cpu()), real=False)
        adherence = mnist_prompt_adherence(images.cpu(), self.prompts, self.cache_dir)
        values = {f"samples/{DOMAIN_FID_NAME}": float(self.domain_fid.compute())}
        if adherence is not None:
            values[f"samples/{ADHERENCE_NAME}"] = adherence["accuracy"]
        return values

    @torch.no_grad()
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == 0 or step % self.every_n_steps or not trainer.is_global_zero:
            return
        tokens, mask = prompt_embeddings(self.prompts, self.text, self.cache_dir)
        shape = (self.n, self.data["channels"], self.data["image_size"], self.data["image_size"])
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(self.seed))  # the same noise every time
        was_training = pl_module.training
        pl_module.eval()
        try:
            images = self.draw(
                trainer, pl_module, tokens.to(pl_module.device), mask.to(pl_module.device), noise.to(pl_module.device)
            )
        finally:
            pl_module.train(was_training)
        values = self.scores(images)
        for logger in trainer.loggers:
            logger.log_metrics(values, step=step)
        self.log_grid(trainer, images, step)

    def log_grid(self, trainer: L.Trainer, images: torch.Tensor, step: int) -> None:
        if self.data.get("space", "pixel") != "pixel":
            return
        path = Path(trainer.default_root_dir) / "sample_metrics" / f"step{step:07d}.png"
        grid = save_labelled_grid(path, (images.clamp(-1, 1).cpu() + 1) / 2, self.prompts)
        for logger in trainer.loggers:
            if type(logger).__name__ == "TensorBoardLogger":
                logger.experiment.add_image("samples/grid", np.asarray(grid), step, dataformats="HWC")
            elif type(logger).__name__ == "WandbLogger":
                logger.log_image("samples/grid", [str(path)], step=step)


class ExpertSampleMetrics(SampleMetrics):
    """The expert being trained, alone (EMA weights when the EMA callback runs), Euler + CFG."""

    def draw(self, trainer, pl_module, tokens, mask, noise):
        ema = next((c for c in trainer.callbacks if isinstance(c, EMA)), None)
        module = (ema.averaged_module() if ema else None) or pl_module
        expert = Expert(module.model, module.objective, module.null_text, module.null_mask, {})
        return sample_expert(
            expert, tokens, mask, noise, steps=self.steps, cfg_scale=self.cfg_scale, conversion=Conversion()
        )


class RouterSampleMetrics(SampleMetrics):
    """The router being trained, routing a fixed set of expert bundles (Top-k, paper conversion, Euler + CFG)."""

    def __init__(self, experts: list[str], k: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.expert_paths, self.k, self.experts = list(experts), k, None

    def draw(self, trainer, pl_module, tokens, mask, noise):
        if self.experts is None:
            self.experts = [load_expert(path) for path in self.expert_paths]
        for expert in self.experts:
            expert.network.to(pl_module.device)
            expert.null_text, expert.null_mask = (
                expert.null_text.to(pl_module.device),
                expert.null_mask.to(pl_module.device),
            )
        routing = Routing(strategy="topk", k=min(self.k, len(self.experts)))
        scores = TrainedRouterScores(pl_module.model, [e.manifest["cluster"] for e in self.experts], TIME_SCALE)
        field = EnsembleField(self.experts, scores, routing, Conversion(), tokens, mask, self.cfg_scale, seed=self.seed)
        return euler(field, noise, self.steps)


def configured_callbacks(specs) -> list[Callback]:
    """The `callbacks:` entries of a training config (name -> {_target_: ..., ...}), instantiated; none by default."""
    from hydra.utils import instantiate

    return [instantiate(spec, _convert_="all") for spec in (specs or {}).values()]
