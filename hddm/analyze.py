"""Run one expert-data alignment diagnostic of paper 002 on an ensemble:
`python -m hddm.analyze analysis=cluster_rank ensemble=mnist_k8 routing=top2 n=64`.

Analyses: cluster_rank, angular_deviation, disagreement, sensitivity, refine, rescue, switching (hddm/analysis/).
Each writes <analysis>.json, <analysis>.md and PNG plots under the run directory and prints its number of expert
evaluations (sample x expert forward passes, each one CFG pair).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import torch
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from hddm.analysis.config import ANALYSIS_SCHEMAS, AnalyzeConfig
from hddm.analysis.report import write_outputs
from hddm.analysis.setup import load_setup, settings
from hddm.config import register_configs, to_typed
from hddm.errors import HddmError
from hddm.jobs import hydra_command

ANALYSES = {
    "cluster_rank": "cluster_rank",
    "angular_deviation": "angular",
    "disagreement": "disagreement",
    "sensitivity": "sensitivity",
    "refine": "refine",
    "rescue": "rescue",
    "switching": "switching",
}


def default_partition_path(cfg: AnalyzeConfig) -> str:
    """The prepare stage's assignment file of the experts' partition, in the cache (as conf/partition/file.yaml)."""
    from hddm.ensemble.members import load_expert

    manifest = load_expert(cfg.ensemble.experts[0]).manifest
    return str(
        Path(cfg.cache_dir).expanduser()
        / "partitions"
        / f"{manifest['data']['name']}_{manifest['partition']['name']}.safetensors"
    )


def analyze(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg: AnalyzeConfig = to_typed(dict_cfg)
    if cfg.analysis.name not in ANALYSES:
        raise HddmError(f"unknown analysis {cfg.analysis.name!r}: choose analysis=<one of {sorted(ANALYSES)}>")
    if cfg.analysis.name == "cluster_rank" and cfg.analysis.partition_path is None:
        cfg.analysis.partition_path = default_partition_path(cfg)
    torch.manual_seed(cfg.seed)
    started = time.time()
    setup = load_setup(cfg)
    module = importlib.import_module(f"hddm.analysis.{ANALYSES[cfg.analysis.name]}")
    result, tables, figures = module.run(setup)
    result.update(
        {
            "analysis": cfg.analysis.name,
            "settings": settings(setup),
            "expert_evaluations": setup.usage.evaluations,
            "seconds": round(time.time() - started, 1),
        }
    )
    paths = write_outputs(run_dir, cfg.analysis.name, result, tables, figures)
    print(
        f"hddm: {cfg.analysis.name} on {cfg.ensemble.name} (K={setup.num_experts}, n={cfg.n}) in {result['seconds']} "
        "s, "
        f"{setup.usage.evaluations} expert evaluations\n" + "\n".join(f"  {k}: {v}" for k, v in paths.items())
    )
    print(Path(paths["markdown"]).read_text())
    return result


register_configs()
ConfigStore.instance().store(name="analyze_schema", node=AnalyzeConfig)
for name, schema in ANALYSIS_SCHEMAS.items():
    ConfigStore.instance().store(group="analysis", name=f"{name}_schema", node=schema)


main = hydra_command("analyze", analyze, to_typed)


if __name__ == "__main__":
    main()
