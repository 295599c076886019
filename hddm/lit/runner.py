"""What every training entry point shares: trainer construction, resume, loggers."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

from hddm.errors import HddmError
from hddm.lit.checkpoint_io import AtomicCheckpointIO
from hddm.lit.progress import ProgressLinesCallback


def resolve_precision(precision: str) -> str:
    """'auto': mixed precision where it pays (GPU), fp32 elsewhere (bf16 is 6-27x slower on a CPU)."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere+: TF32 for what stays in fp32
        torch.backends.cudnn.allow_tf32 = True
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def resume_checkpoint(resume: bool, checkpoint_dir: Path, identity: dict, key: str) -> Path | None:
    """last.ckpt of this run folder, if any, after checking it belongs to the same model (checkpoint[key])."""
    last = checkpoint_dir / "last.ckpt"
    if not last.exists():
        return None
    if not resume:
        raise HddmError(f"{checkpoint_dir} already holds checkpoints: set resume=true to continue, or another run_name")
    try:
        saved = torch.load(last, map_location="cpu", weights_only=True).get(key, {})
    except Exception as error:
        raise HddmError(
            f"{last} is unreadable ({type(error).__name__}): delete it to resume from an earlier checkpoint"
        ) from None
    differs = [name for name, value in identity.items() if saved.get(name) != value]
    if differs:
        raise HddmError(
            f"{last} belongs to a different run ({', '.join(differs)} differ): set another run_name, "
            f"or delete {checkpoint_dir.parent} to train this one afresh"
        )
    return last


def checkpoint_callbacks(checkpoint_dir: Path, every_n_steps: int, keep: int) -> list:
    return [
        LearningRateMonitor(logging_interval="step"),
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            filename="step{step:07d}",
            auto_insert_metric_name=False,
            every_n_train_steps=every_n_steps,
            save_top_k=keep,
            save_last=True,
        ),
    ]


def make_trainer(trainer_cfg: dict, logger_cfg, run_dir: Path, callbacks: list) -> tuple[L.Trainer, list]:
    loggers = [instantiate(spec, save_dir=str(run_dir)) for spec in logger_cfg.values()]
    kwargs = {**trainer_cfg, "precision": resolve_precision(str(trainer_cfg.get("precision", "auto")))}
    if isinstance(kwargs.get("strategy"), dict):  # e.g. FSDP with its wrap policy (conf/trainer/fsdp.yaml)
        kwargs["strategy"] = instantiate(kwargs["strategy"])
    try:
        trainer = L.Trainer(
            **kwargs,
            default_root_dir=str(run_dir),
            callbacks=[*callbacks, ProgressLinesCallback("train")],  # prints only when the bar is off
            logger=loggers,
            plugins=[AtomicCheckpointIO()],
            use_distributed_sampler=False,
        )
    except (TypeError, ValueError) as error:
        raise HddmError(f"invalid trainer setting: {error}") from None
    return trainer, loggers


def fit(trainer: L.Trainer, loggers: list, module, datamodule, ckpt_path) -> float:
    """trainer.fit, then close every logger (Hydra multirun reuses the process); returns seconds spent."""
    started = time.time()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        for logger in loggers:
            logger.finalize("success")
            if type(logger).__name__ == "WandbLogger":
                logger.experiment.finish()
    return time.time() - started


def metrics_csv(loggers: list) -> str | None:
    return next((str(Path(lg.log_dir) / "metrics.csv") for lg in loggers if type(lg).__name__ == "CSVLogger"), None)
