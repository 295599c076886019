"""Train the router on all clusters: `python -m hddm.train_router partition=mnist_digits`.

Writes, under the run folder: checkpoints/, logs, router/ (safetensors + manifest with the held-out routing
accuracy as a function of t), router_accuracy.png/.json.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import lightning as L
import matplotlib
from omegaconf import DictConfig

from hddm import __version__
from hddm.bundles import ROUTER_FORMAT, save_bundle
from hddm.config import (
    RouterTrainConfig,
    data_record,
    model_size,
    partition_record,
    register_configs,
    validate_router_config,
)
from hddm.ensemble_configs import record_bundle
from hddm.io import atomic_write, write_json
from hddm.jobs import hydra_command
from hddm.lit.callbacks import configured_callbacks
from hddm.lit.data import ExpertDataModule, text_encoder_id
from hddm.lit.router import TIME_SCALE, RouterModule
from hddm.lit.runner import checkpoint_callbacks, fit, make_trainer, metrics_csv, resume_checkpoint
from hddm.routing.scores import ROUTER_NOISING

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)


def router_manifest(cfg: RouterTrainConfig, text_dim: int) -> dict:
    return {
        "num_clusters": cfg.partition.num_clusters,
        "partition": partition_record(cfg.partition),
        "data": data_record(cfg.data),
        "trained_clusters": sorted(cfg.clusters)
        if cfg.clusters is not None
        else list(range(cfg.partition.num_clusters)),
        "noising": ROUTER_NOISING,
        "time_scale": TIME_SCALE,
        "text_encoder": text_encoder_id(cfg.text) if cfg.text_aware else None,
        "text_dim": text_dim if cfg.text_aware else None,
        "model": {"name": cfg.model.name, **asdict(model_size(cfg.model))},
        "seed": cfg.seed,
        "hddm_version": __version__,
    }


def plot_accuracy(accuracy: dict, path: Path) -> None:
    times = [float(t) for t in accuracy["top1"]]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.plot(times, list(accuracy["top1"].values()), marker="o", label="top-1")
    axis.plot(times, list(accuracy["top2"].values()), marker="s", label="top-2")
    axis.set(
        xlabel="t (0 = data, 1 = noise)",
        ylabel="held-out routing accuracy",
        ylim=(0, 1.02),
        title=f"router accuracy vs t (n={accuracy['n']})",
    )
    axis.legend()
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)


def train_router(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg = validate_router_config(dict_cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ExpertDataModule(cfg.data, cfg.partition, cfg.text, None, cfg.seed, cfg.clusters)
    datamodule.prepare_data()
    datamodule.setup("fit")
    text_dim = datamodule.null_text()[0].shape[-1]
    manifest = router_manifest(cfg, text_dim)
    module = RouterModule(
        asdict(model_size(cfg.model)),
        cfg.data.channels,
        cfg.data.image_size,
        cfg.partition.num_clusters,
        text_dim if cfg.text_aware else None,
        lr=cfg.optim.lr,
        lr_min=cfg.optim.lr_min,
        weight_decay=cfg.optim.weight_decay,
        max_steps=int(cfg.trainer.get("max_steps", 1000)),
        seed=cfg.seed,
        manifest=manifest,
    )
    checkpoint_dir = run_dir / "checkpoints"
    identity = {key: manifest[key] for key in ("num_clusters", "partition", "data", "text_encoder", "model")}
    if cfg.clusters is not None:  # a router of some clusters only never resumes one of all (nor the reverse)
        identity["trained_clusters"] = manifest["trained_clusters"]
    ckpt_path = resume_checkpoint(cfg.resume, checkpoint_dir, identity, "hddm_router")
    callbacks = [
        *checkpoint_callbacks(checkpoint_dir, cfg.checkpoint.every_n_steps, cfg.checkpoint.keep),
        *configured_callbacks(dict_cfg.callbacks),
    ]
    trainer, loggers = make_trainer(cfg.trainer, dict_cfg.logger, run_dir, callbacks)
    fit_seconds = fit(trainer, loggers, module, datamodule, ckpt_path)
    result = {"run_dir": str(run_dir), "steps": trainer.global_step, "fit_seconds": round(fit_seconds, 1)}
    if trainer.is_global_zero:
        accuracy = module.accuracy_by_time(datamodule.val_dataloader())
        bundle = save_bundle(
            run_dir / "router",
            module.state_dict(),
            {**manifest, "steps": trainer.global_step, "accuracy_by_t": accuracy},
            ROUTER_FORMAT,
        )
        plot_accuracy(accuracy, run_dir / "router_accuracy.png")
        write_json(run_dir / "router_accuracy.json", accuracy)
        result.update(
            bundle=str(bundle),
            accuracy_by_t=accuracy,
            metrics_csv=metrics_csv(loggers),
            plot=str(run_dir / "router_accuracy.png"),
        )
        write_json(run_dir / "result.json", result)
        row = "  ".join(f"{t}:{a:.2f}" for t, a in accuracy["top1"].items())
        standing = record_bundle(bundle, manifest) if cfg.clusters is None else "partial router: no ensemble config"
        print(
            f"hddm: trained router on {cfg.partition.num_clusters} clusters for {trainer.global_step} steps "
            f"({fit_seconds:.0f} s)\n  top-1 accuracy by t: {row}\n  bundle: {bundle}\n  plot:   {result['plot']}\n"
            f"  {standing}"
        )
    return result


register_configs()


main = hydra_command("train_router", train_router, validate_router_config)


if __name__ == "__main__":
    main()
