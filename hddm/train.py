"""Train one expert on one cluster: `python -m hddm.train objective=ddpm cluster=3`.

Writes, under the run folder: checkpoints/ (every N steps + last.ckpt, resumed automatically), logs,
expert/ (EMA weights as safetensors + manifest), samples.png (EMA weights, Euler ODE, CFG) and result.json.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from hddm import __version__
from hddm.bundles import save_expert_bundle
from hddm.config import TrainConfig, data_record, model_size, partition_record, register_configs, validate_train_config
from hddm.data.embedded import EMBEDDED, is_image_set
from hddm.data.image_set import class_captions, load_split
from hddm.data.mnist import digit_prompt
from hddm.diffusion.conversion import Conversion, Safeguards
from hddm.ensemble.guidance import sample_expert
from hddm.ensemble.members import Expert
from hddm.ensemble_configs import record_bundle
from hddm.errors import HddmError
from hddm.grids import save_labelled_grid
from hddm.inits import apply_init
from hddm.io import write_json
from hddm.jobs import hydra_command
from hddm.lit.callbacks import configured_callbacks
from hddm.lit.data import ExpertDataModule, prompt_embeddings, text_encoder_id
from hddm.lit.ema import EMA
from hddm.lit.expert import ExpertModule
from hddm.lit.runner import checkpoint_callbacks, fit, make_trainer, metrics_csv, resume_checkpoint

# what a run folder's checkpoint must share with the config to be resumed (the init too: another base is another run)
IDENTITY = ("objective", "prediction", "schedule", "cluster", "partition", "model", "data", "text_encoder", "init")


def expert_manifest(cfg: TrainConfig, text_dim: int) -> dict:
    size = model_size(cfg.model)
    return {
        "objective": str(cfg.objective.name),  # plain strings: the manifest also goes into checkpoints (weights-only)
        "prediction": str(cfg.objective.prediction),
        "schedule": str(cfg.schedule.name),
        "time_scale": cfg.objective.time_scale,
        "cluster": cfg.cluster,
        "partition": partition_record(cfg.partition),
        "data": data_record(cfg.data),
        "text_encoder": text_encoder_id(cfg.text),
        "text_dim": text_dim,
        "text": {"name": str(cfg.text.name), "kwargs": dict(cfg.text.kwargs)},
        "model": {"name": cfg.model.name, **asdict(size)},
        "seed": cfg.seed,
        "ema": {"decay": cfg.ema.decay, "warmup": cfg.ema.warmup},
        "hddm_version": __version__,
    }


def sample_prompts(cfg: TrainConfig, datamodule: ExpertDataModule) -> list[str]:
    """The prompts of the end-of-training grid: given ones, else the cluster's classes (most common first) in the
    data's words, else its most common captions."""
    if cfg.sample.prompts:
        return list(cfg.sample.prompts)
    labels = [] if datamodule.labels is None else Counter(datamodule.labels[datamodule.labels >= 0].tolist())
    if labels and is_image_set(cfg.data):
        captions = class_captions(load_split(cfg.data.shard_dir, cfg.data.split))
        return [captions[label] for label, _ in labels.most_common()]
    if labels and cfg.data.name in EMBEDDED:
        return [digit_prompt(d) for d, _ in labels.most_common()]
    if datamodule.captions:
        return [caption for caption, _ in Counter(datamodule.captions).most_common(8)]
    raise HddmError("this dataset has no labels or captions to derive prompts from: set sample.prompts=[...]")


def sample_grid(module: ExpertModule, cfg: TrainConfig, datamodule: ExpertDataModule, path: Path) -> list[str]:
    prompts = sample_prompts(cfg, datamodule)
    chosen = [prompts[i % len(prompts)] for i in range(cfg.sample.n)]
    tokens, mask = prompt_embeddings(chosen, cfg.text, cfg.data.cache_dir)
    generator = torch.Generator().manual_seed(cfg.sample.seed)
    shape = (cfg.sample.n, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    noise = torch.randn(shape, generator=generator).to(module.device)
    conversion = Conversion(mode="paper", safeguards=Safeguards(**asdict(cfg.sample.safeguards)))
    module.eval()
    expert = Expert(
        module.model, module.objective, module.null_text, module.null_mask, dict(module.hparams.manifest or {})
    )
    images = sample_expert(
        expert,
        tokens.to(module.device),
        mask.to(module.device),
        noise,
        steps=cfg.sample.steps,
        cfg_scale=cfg.sample.cfg_scale,
        solver=cfg.sample.solver,
        conversion=conversion,
    )
    if cfg.data.space == "pixel":
        save_labelled_grid(path, (images.clamp(-1, 1) + 1) / 2, chosen)
    else:  # latents: decoding needs the VAE (hddm.sample); save the first channels as a preview
        save_labelled_grid(path, images[:, :3].clamp(-3, 3) / 6 + 0.5, chosen)
    return sorted(set(chosen), key=chosen.index)


def train(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg = validate_train_config(dict_cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ExpertDataModule(cfg.data, cfg.partition, cfg.text, cfg.cluster, cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")  # fails fast, before any file is written, on a bad cluster id or data
    sample_prompts(cfg, datamodule)  # and on a grid with nothing to ask for, before the training it would end
    null_text, null_mask = datamodule.null_text()
    manifest = expert_manifest(cfg, null_text.shape[-1])
    module = ExpertModule(
        size=asdict(model_size(cfg.model)),
        in_channels=cfg.data.channels,
        image_size=cfg.data.image_size,
        text_dim=null_text.shape[-1],
        null_text=null_text,
        null_mask=null_mask,
        prediction=str(cfg.objective.prediction),
        schedule=str(cfg.schedule.name),
        time_scale=cfg.objective.time_scale,
        lr=cfg.optim.lr,
        betas=tuple(cfg.optim.betas),
        eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
        warmup_steps=cfg.optim.warmup_steps,
        cfg_dropout=cfg.cfg_dropout,
        moe_balance=cfg.optim.moe_balance,
        seed=cfg.seed,
        manifest=manifest,
    )
    if cfg.init:  # also on resume: its checkpoint's weights replace the init's, and the manifest keeps the record
        init = apply_init(module.model, cfg.init)
        manifest["init"] = {"source_sha256": init["source"]["sha256"], "weights_sha256": init["weights_sha256"]}
        module.hparams.manifest = manifest
    checkpoint_dir = run_dir / "checkpoints"
    identity = {key: manifest.get(key) for key in IDENTITY}
    ckpt_path = resume_checkpoint(cfg.resume, checkpoint_dir, identity, "hddm_expert")
    ema = EMA(decay=cfg.ema.decay, warmup=cfg.ema.warmup)
    callbacks = [
        ema,
        *checkpoint_callbacks(checkpoint_dir, cfg.checkpoint.every_n_steps, cfg.checkpoint.keep),
        *configured_callbacks(dict_cfg.callbacks),
    ]
    trainer, loggers = make_trainer(cfg.trainer, dict_cfg.logger, run_dir, callbacks)
    fit_seconds = fit(trainer, loggers, module, datamodule, ckpt_path)

    result = {
        "run_dir": str(run_dir),
        "steps": trainer.global_step,
        "world_size": trainer.world_size,
        "fit_seconds": round(fit_seconds, 1),
    }
    if trainer.is_global_zero:
        ema_module = ema.averaged_module() or module
        bundle = save_expert_bundle(
            run_dir / "expert", ema_module.state_dict(), {**manifest, "steps": trainer.global_step}
        )
        prompts = sample_grid(ema_module, cfg, datamodule, run_dir / "samples.png")
        metrics = {k: round(float(v), 5) for k, v in trainer.callback_metrics.items()}
        csv = metrics_csv(loggers)
        result.update(
            bundle=str(bundle),
            samples=str(run_dir / "samples.png"),
            sample_prompts=prompts,
            metrics=metrics,
            metrics_csv=csv,
            checkpoints=str(checkpoint_dir),
        )
        write_json(run_dir / "result.json", result)
        standing = record_bundle(bundle, manifest)
        print(
            f"hddm: trained {cfg.objective.name} expert on cluster {cfg.cluster} for {trainer.global_step} steps "
            f"({fit_seconds:.0f} s)\n  samples: {result['samples']}\n  metrics: {csv} {metrics}\n"
            f"  bundle:  {bundle}\n  result:  {run_dir / 'result.json'}\n  {standing}"
        )
    return result


register_configs()


main = hydra_command("train", train, validate_train_config)


if __name__ == "__main__":
    main()
