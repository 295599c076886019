"""Evaluate a routed ensemble: `python -m hddm.evaluate ensemble=demo routing=top2 metrics=[fid,clip,diversity] n=1000`.

Samples through hddm.lit.evaluator.EnsembleEvaluator (Lightning: devices and processes from trainer=...),
then writes results.json (a "metrics" dict of numbers that `python -m hddm.report` tabulates, and everything
needed to reproduce and compare them: sample counts, reference-stats hashes, sampler, steps, CFG, routing,
experts' hashes, seeds, metric implementations), results.md (one markdown table line) and grid.png.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hddm import __version__
from hddm.config import EvaluateConfig, register_configs, to_typed
from hddm.ensemble.members import expert_name
from hddm.errors import HddmError
from hddm.grids import save_labelled_grid
from hddm.io import atomic_write, write_json
from hddm.jobs import hydra_command
from hddm.lit.evaluator import MAIN, EnsembleEvaluator, shard
from hddm.lit.progress import ProgressLinesCallback
from hddm.reporting.uncertainty import uncertainties

MARKDOWN_HEADER = (
    "| ensemble | routing | solver | steps | cfg | n | metrics | reference stats |\n|---|---|---|---|---|---|---|---|\n"
)


def headline(values: dict) -> dict[str, float]:
    """The numbers of the markdown line: scalars, and mean of the diversity summaries."""
    line = {}
    for name, value in values.items():
        if isinstance(value, float):
            line[name] = value
        elif isinstance(value, dict) and "mean" in value:
            line[name] = value["mean"]
    return line


def markdown_line(cfg: EvaluateConfig, values: dict, references: dict) -> str:
    line = headline(values)
    intervals = uncertainties(line)  # adherence: its Wilson interval after the value, not as numbers of their own
    bounds = {key for interval in intervals.values() for key in interval.keys}
    numbers = ", ".join(
        f"{name} {value:.4g}" + (f" {intervals[name].text}" if name in intervals else "")
        for name, value in line.items()
        if name not in bounds
    )
    hashes = (
        ", ".join(
            f"{name} {ref['sha256'][:12]} ({ref['count']} {ref.get('split', 'folder')})"
            for name, ref in references.items()
        )
        or "-"
    )
    routing = cfg.routing.strategy + (f" k={cfg.routing.k}" if cfg.routing.strategy == "topk" else "")
    settings = f"{cfg.ensemble.name} | {routing} | {cfg.solver} | {cfg.steps} | {cfg.cfg_scale} | {cfg.n}"
    return f"| {settings} | {numbers} | {hashes} |"


def result_record(cfg: EvaluateConfig, evaluator: EnsembleEvaluator, trainer: L.Trainer, seconds: float) -> dict:
    values, counts = evaluator.results["values"], evaluator.results["counts"]
    experts = [
        {
            "path": path,
            "cluster": e.manifest["cluster"],
            "objective": e.manifest["objective"],
            "schedule": e.manifest["schedule"],
            "weights_sha256": e.manifest["weights_sha256"],
        }
        for path, e in zip(cfg.ensemble.experts, evaluator.experts)
    ]
    router = evaluator.router_manifest
    per_class = {  # kept out of report tables
        name: value for name, value in values.items() if name.endswith(("_per_digit", "_per_class"))
    }
    names = [expert_name(e.manifest) for e in evaluator.experts]
    capacity = {
        name: summary
        for name, meter in zip(names, evaluator.capacity_meters)
        if (summary := meter.summary(per_step=False))
    }
    return {
        "metrics": {name: value for name, value in values.items() if name not in per_class},
        "metric_details": per_class,
        "metrics_left_out": evaluator.skipped,
        "real_floors": evaluator.results["real_floors"],
        "samples": {"n": counts["main"], "diversity": counts["diversity"], "world_size": trainer.world_size},
        "reference_stats": {name: ref for name, ref in evaluator.references.items()},
        "implementations": evaluator.implementations,
        "sampler": {
            "solver": cfg.solver,
            "steps": cfg.steps,
            "cfg_scale": cfg.cfg_scale,
            "conversion": asdict(cfg.conversion),
            "noise": "sample i: numpy default_rng([seed, i]).standard_normal (float32)",
            "batch_size": cfg.batch_size,
        },
        "routing": asdict(cfg.routing),
        "seeds": {"sampling": cfg.seed, "routing": cfg.routing.seed},
        "experts": experts,
        "router": None if router is None else {"path": cfg.ensemble.router, "weights_sha256": router["weights_sha256"]},
        "prompts": sorted(set(evaluator.main_prompts), key=evaluator.main_prompts.index),
        "usage_rank0": evaluator.usage.summary(names),
        **({"c_infer_rank0": capacity} if capacity else {}),
        "settings": asdict(cfg),
        "seconds": round(seconds, 1),
        "hddm_version": __version__,
    }


def grid_prompts(evaluator: EnsembleEvaluator, world_size: int) -> list[str]:
    """The prompts of the grid's images: rank 0 keeps the first main samples of its own shard of batches."""
    mine = [
        prompt
        for batch in shard(evaluator.batches, 0, world_size)
        if batch.kind == MAIN
        for prompt in evaluator.prompts_of(batch)
    ]
    return mine[: len(evaluator.grid)]


def samples_in(batch) -> int:  # an evaluator Batch; a named function, not a lambda: spawned processes unpickle it
    return batch.stop - batch.start


def metrics_chosen() -> bool:
    """Whether the command line chose the metrics (metrics=[...]); otherwise the default set adapts to the data."""
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    return any(override.lstrip("+~").split("=", 1)[0] == "metrics" for override in overrides)


def evaluate(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg: EvaluateConfig = to_typed(dict_cfg)
    evaluator = EnsembleEvaluator(cfg, default_metrics=not metrics_chosen())
    try:
        trainer = L.Trainer(
            **{"accelerator": "auto", "devices": 1, **cfg.trainer},
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            default_root_dir=str(run_dir),
            callbacks=[ProgressLinesCallback("evaluate", samples_of=samples_in)],
        )
    except (TypeError, ValueError) as error:
        raise HddmError(f"invalid trainer setting: {error}") from None
    started = time.time()
    trainer.test(evaluator, verbose=False)
    seconds = time.time() - started
    if not trainer.is_global_zero:
        return {}
    record = result_record(cfg, evaluator, trainer, seconds)
    run_dir.mkdir(parents=True, exist_ok=True)
    if evaluator.grid is not None:  # decoded images for latent ensembles
        prompts = grid_prompts(evaluator, trainer.world_size)
        save_labelled_grid(run_dir / "grid.png", (evaluator.grid.clamp(-1, 1) + 1) / 2, prompts, cfg.grid_columns)
        record["grid"] = str(run_dir / "grid.png")
    line = markdown_line(cfg, record["metrics"], record["reference_stats"])
    write_json(run_dir / "results.json", record)
    atomic_write(run_dir / "results.md", lambda tmp: Path(tmp).write_text(MARKDOWN_HEADER + line + "\n"))
    print(
        f"hddm: evaluated {cfg.n} samples of {cfg.ensemble.name} ({cfg.routing.strategy}) in {seconds:.0f} s\n{line}\n"
        f"  results: {run_dir / 'results.json'}\n  table:   {run_dir / 'results.md'}"
    )
    return record


register_configs()


main = hydra_command("evaluate", evaluate, to_typed)


if __name__ == "__main__":
    main()
