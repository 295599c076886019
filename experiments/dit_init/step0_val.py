"""Validation loss at step 0 (before any expert training), measured exactly as hddm.train's validation_step does.

    python experiments/dit_init/step0_val.py --init experiments/dit_init/work/init --source experiments/dit_init/work/dit_tiny_mnist.pt \
        --out experiments/dit_init/work/step0.json -- objective=ddpm cluster=3 experiment=embedded_quick data.val_fraction=0.1

hddm.train validates first at step val_check_interval, so its curves have no step-0 point. This script composes the
same Hydra config as a run (the overrides after --), builds the data module and the ExpertModule in the order
train.py does (seed_everything first, so the scratch weights are built by the same code from the same seed), and
evaluates the first trainer.limit_val_batches validation batches with the same seeded (t, noise) per batch as
ExpertModule.validation_step: once from scratch, once after apply_init (the converted DiT). For objective=ddpm it
also evaluates the source DiT itself (epsilon channels) on the same (x0, t, noise): class-conditional on the true
digit and with the null class, which is what the conversion can at best preserve.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir

from hddm.config import register_configs, validate_train_config
from hddm.data.embedded import mnist_pool
from hddm.inits import apply_init
from hddm.lit.data import ExpertDataModule
from hddm.lit.expert import T_BINS, ExpertModule
from hddm.models.dit import get_dit_size
from hddm.models.reference_dit import ReferenceDiT

REPO = Path(__file__).resolve().parents[2]


def build(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        dict_cfg = compose(config_name="train", overrides=overrides)
    cfg = validate_train_config(dict_cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ExpertDataModule(cfg.data, cfg.partition, cfg.text, cfg.cluster, cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")
    null_text, null_mask = datamodule.null_text()
    module = ExpertModule(
        size=asdict(get_dit_size(cfg.model.name)),
        in_channels=cfg.data.channels,
        image_size=cfg.data.image_size,
        text_dim=null_text.shape[-1],
        null_text=null_text,
        null_mask=null_mask,
        prediction=cfg.objective.prediction,
        schedule=cfg.schedule.name,
        time_scale=cfg.objective.time_scale,
        lr=cfg.optim.lr,
        betas=tuple(cfg.optim.betas),
        eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
        warmup_steps=cfg.optim.warmup_steps,
        cfg_dropout=cfg.cfg_dropout,
        seed=cfg.seed,
        manifest=None,
    )
    return cfg, datamodule, module


def val_batches(cfg, datamodule):
    limit = cfg.trainer.get("limit_val_batches", 4)
    batches = list(datamodule.val_dataloader())
    return batches[: int(limit)] if isinstance(limit, int) else batches


def summarise(per_sample: list[torch.Tensor], times: list[torch.Tensor]) -> dict:
    losses, t = torch.cat(per_sample), torch.cat(times)
    bins = (t * T_BINS).long().clamp(max=T_BINS - 1)
    out = {"val/loss": losses.mean().item()}
    for k in range(T_BINS):
        if (bins == k).any():
            out[f"val/loss_t{k}"] = losses[bins == k].mean().item()
    return out


@torch.no_grad()
def evaluate_module(module, batches) -> dict:
    module.eval()
    per_sample, times = [], []
    for batch_idx, batch in enumerate(batches):
        loss, t = module._loss(batch, module._step_generator(batch_idx, 1), cfg_dropout=0.0)
        per_sample.append(loss)
        times.append(t)
    return summarise(per_sample, times)


@torch.no_grad()
def evaluate_source(source: ReferenceDiT, module, batches, digits: torch.Tensor, null_class: bool) -> dict:
    """The DiT's epsilon channels on the same (x0, t, eps) draws as ExpertModule._loss (cfg_dropout=0)."""
    objective, per_sample, times, start = module.objective, [], [], 0
    for batch_idx, batch in enumerate(batches):
        x0 = batch["x"]
        g = module._step_generator(batch_idx, 1)
        t = torch.rand(x0.shape[0], generator=g)
        eps = torch.randn(x0.shape, generator=g)
        y = torch.full((len(x0),), source.num_classes) if null_class else digits[start : start + len(x0)]
        start += len(x0)
        out = source(objective.noisy_sample(x0, eps, t), objective.model_time(t), y)[:, : source.in_channels]
        per_sample.append((out - eps).pow(2).flatten(1).mean(1))
        times.append(t)
    return summarise(per_sample, times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", required=True)
    parser.add_argument("--source", default=None, help="the DiT .pt (only used for objective=ddpm)")
    parser.add_argument("--out", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)

    cfg, datamodule, module = build(args.overrides)
    batches = val_batches(cfg, datamodule)
    result = {
        "overrides": args.overrides,
        "val_items": sum(len(b["x"]) for b in batches),
        "scratch": evaluate_module(module, batches),
    }
    apply_init(module.model, args.init)
    result["init"] = evaluate_module(module, batches)
    if args.source and cfg.objective.prediction == "epsilon":
        images, labels = mnist_pool(cfg.data.cache_dir, cfg.data.split)
        members = datamodule.partition().indices(cfg.cluster)
        positions = np.asarray(datamodule.val_set.indices)
        digits = torch.from_numpy(labels[members[positions]])
        source = ReferenceDiT(get_dit_size(cfg.model.name), cfg.data.image_size, cfg.data.channels, num_classes=10)
        source.load_state_dict(torch.load(args.source, map_location="cpu", weights_only=True))
        source.eval()
        result["source_dit_class_conditional"] = evaluate_source(source, module, batches, digits, null_class=False)
        result["source_dit_null_class"] = evaluate_source(source, module, batches, digits, null_class=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
