"""One contributor's routing information, trained alone:
`python -m hddm.train_head expert=runs/experts/<run>/expert data=styled_digits partition.num_clusters=8`.

From the expert's own cluster only (no other contributor's data): density-ratio heads of its noisy data against
the shared public reference set (reference=..., embedded default: plain digits), and k-means centroids of its
items in the shared clustering feature space. Written into <expert>/routing/ (its own hash-checked bundle; the
expert's files are left as they are), so the expert joins any ensemble routed with routing.router=density_ratio
or centroid without anyone retraining a router. Under the run folder: checkpoints/, logs, result.json.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig

from hddm import __version__
from hddm.bundles import ROUTING_DIR, ROUTING_FORMAT, save_bundle
from hddm.config import HeadTrainConfig, TextConfig, check_data, register_configs, to_typed
from hddm.data.clustering import kmeans
from hddm.data.datasets import CaptionTableDataset
from hddm.data.embedded import EMBEDDED, pool_of
from hddm.data.features import build_extractor
from hddm.ensemble.contributed import HEAD_KINDS, TRAJECTORY_EXTRACTORS
from hddm.ensemble.members import load_expert
from hddm.errors import HddmError
from hddm.io import sha256_file, write_json
from hddm.jobs import hydra_command
from hddm.lit.data import ExpertDataModule, prompt_embeddings
from hddm.lit.density_head import DensityHeadModule
from hddm.lit.router import TIME_SCALE
from hddm.lit.runner import checkpoint_callbacks, fit, make_trainer, metrics_csv, resume_checkpoint
from hddm.routing.scores import ROUTER_NOISING


def validate(cfg: HeadTrainConfig, manifest: dict) -> None:
    check_data(cfg.data)
    if cfg.data.name != manifest["data"]["name"]:
        raise HddmError(
            f"the expert was trained on data={manifest['data']['name']}, not {cfg.data.name}: set "
            f"data={manifest['data']['name']}"
        )
    if not Path(cfg.partition.path).is_file() or sha256_file(cfg.partition.path) != manifest["partition"]["sha256"]:
        raise HddmError(
            f"{cfg.partition.path} is not the partition the expert was trained on: set partition.path "
            f"(and partition.num_clusters={manifest['partition']['num_clusters']}) to its assignment file"
        )
    if cfg.reference.name not in EMBEDDED or cfg.data.name not in EMBEDDED:
        raise HddmError(
            "hddm.train_head reads the embedded pixel pools (data, reference = mnist | styled_digits); "
            "shard-based data is not supported yet"
        )
    if (cfg.reference.channels, cfg.reference.image_size) != (cfg.data.channels, cfg.data.image_size):
        raise HddmError(
            "the reference set must have the data's channels and image size: choose a matching reference=..."
        )
    unknown = sorted(set(cfg.kinds) - set(HEAD_KINDS))
    if unknown or not cfg.kinds:
        raise HddmError(f"kinds must be a non-empty subset of {list(HEAD_KINDS)}, not {list(cfg.kinds)}")
    if cfg.centroids < 1:
        raise HddmError(f"centroids must be >= 1, not {cfg.centroids}")


def cluster_centroids(cfg: HeadTrainConfig, datamodule: ExpertDataModule) -> tuple[torch.Tensor, str]:
    """k-means centroids of the cluster's training items in the shared feature space, and the space's id."""
    extractor = build_extractor(cfg.features, None, cfg.data.cache_dir, torch.device("cpu"), "float32")
    if extractor.extractor_id not in TRAJECTORY_EXTRACTORS:
        raise HddmError(
            f"features={cfg.features} cannot be computed on the sampled state: use one of colour_quantiles, pixels"
        )
    train = datamodule.train_set
    features = torch.cat([extractor(train.dataset.images[chunk]) for chunk in torch.tensor(train.indices).split(4096)])
    k = min(cfg.centroids, len(features))
    return torch.from_numpy(kmeans(features.numpy(), k, cfg.seed, "kmeans", 100, 3)), extractor.extractor_id


def train_head(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg: HeadTrainConfig = to_typed(dict_cfg)
    expert = load_expert(cfg.expert)
    manifest = expert.manifest
    validate(cfg, manifest)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    text = TextConfig(name=manifest["text"]["name"], kwargs=manifest["text"]["kwargs"])
    datamodule = ExpertDataModule(cfg.data, cfg.partition, text, manifest["cluster"], cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")
    pool = pool_of(cfg.reference)
    tokens, mask = prompt_embeddings(pool.prompts, text, cfg.reference.cache_dir)
    reference = CaptionTableDataset(torch.from_numpy(pool.images), torch.from_numpy(pool.caption), tokens, mask)
    centroids, features_id = cluster_centroids(cfg, datamodule)
    routing_manifest = {
        "expert_weights_sha256": manifest["weights_sha256"],
        "cluster": manifest["cluster"],
        "partition_sha256": manifest["partition"]["sha256"],
        "data": manifest["data"],
        "num_samples": int(len(datamodule.partition().indices(manifest["cluster"]))),
        "reference": {
            "name": cfg.reference.name,
            "split": cfg.reference.split,
            "domains": cfg.reference.domains,
            "data_hash": pool.data_hash,
        },
        "noising": ROUTER_NOISING,
        "time_scale": TIME_SCALE,
        "heads": {
            kind: {
                **asdict(cfg.head),
                **(
                    {"text_dim": manifest["text_dim"], "text_encoder": manifest["text_encoder"]}
                    if kind == "text"
                    else {}
                ),
            }
            for kind in cfg.kinds
        },
        "centroids": {"features": features_id, "count": int(centroids.shape[0])},
        "seed": cfg.seed,
        "hddm_version": __version__,
    }
    checkpoint_dir = run_dir / "checkpoints"
    identity = {key: routing_manifest[key] for key in ("expert_weights_sha256", "reference", "heads")}
    ckpt_path = resume_checkpoint(cfg.resume, checkpoint_dir, identity, "hddm_head")
    module = DensityHeadModule(
        asdict(cfg.head),
        cfg.data.channels,
        cfg.data.image_size,
        manifest["text_dim"],
        list(cfg.kinds),
        reference,
        lr=cfg.optim.lr,
        lr_min=cfg.optim.lr_min,
        weight_decay=cfg.optim.weight_decay,
        max_steps=int(cfg.trainer.get("max_steps", 1000)),
        seed=cfg.seed,
        identity=identity,
    )
    trainer, loggers = make_trainer(
        cfg.trainer,
        dict_cfg.logger,
        run_dir,
        checkpoint_callbacks(checkpoint_dir, cfg.checkpoint.every_n_steps, cfg.checkpoint.keep),
    )
    fit_seconds = fit(trainer, loggers, module, datamodule, ckpt_path)
    accuracy = module.accuracy_by_time(datamodule.val_dataloader())
    state = {f"head.{name}": value for name, value in module.heads.state_dict().items()}
    bundle = save_bundle(
        Path(cfg.expert) / ROUTING_DIR,
        {**state, "centroids": centroids},
        {**routing_manifest, "steps": trainer.global_step, "accuracy_by_t": accuracy},
        ROUTING_FORMAT,
    )
    result = {
        "run_dir": str(run_dir),
        "steps": trainer.global_step,
        "fit_seconds": round(fit_seconds, 1),
        "bundle": str(bundle),
        "accuracy_by_t": accuracy,
        "metrics_csv": metrics_csv(loggers),
    }
    write_json(run_dir / "result.json", result)
    rows = "\n".join(
        f"  {kind} head, own-vs-reference accuracy by t: "
        + "  ".join(f"{t}:{a:.2f}" for t, a in accuracy[kind].items())
        for kind in cfg.kinds
    )
    print(
        f"hddm: routing information for cluster {manifest['cluster']} ({trainer.global_step} steps, {fit_seconds:.0f} "
        "s)\n"
        f"{rows}\n  bundle: {bundle}"
    )
    return result


register_configs()


main = hydra_command("train_head", train_head, to_typed)


if __name__ == "__main__":
    main()
