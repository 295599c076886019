"""Table 3 (step refinement): Delta_refine = perceptual distance between the N-step and 2N-step samples from the
same noise and prompt, per routing strategy; tau_refine is its 99th percentile under Top-2, applied to every
strategy. Sample quality (prompt adherence on MNIST) is reported next to it, since the paper's point is that the
lowest Delta_refine does not mean the best samples."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import sample_batches
from hddm.metrics.adherence import mnist_prompt_adherence
from hddm.metrics.diversity import perceptual_distance


def refinement(setup, field_of_rows, distance) -> tuple[torch.Tensor, torch.Tensor]:
    """(Delta_refine per sample, the 2N-step samples); field_of_rows(rows) builds a fresh field for those rows."""
    n = setup.cfg.analysis.refine_steps
    coarse = sample_batches(field_of_rows, setup.noise, n, setup.cfg.batch_size).cpu()
    fine = sample_batches(field_of_rows, setup.noise, 2 * n, setup.cfg.batch_size).cpu()
    return distance(coarse.clamp(-1, 1), fine.clamp(-1, 1)).double(), fine


def run(setup):
    cfg = setup.cfg.analysis
    distance = perceptual_distance(cfg.lpips_weights)
    per_strategy, deltas = {}, {}
    for strategy in cfg.strategies:
        before = setup.usage.evaluations
        routing = setup.named_routing(strategy)
        delta, images = refinement(setup, lambda rows: setup.field(routing, rows), distance)
        deltas[strategy] = delta
        adherence = (
            mnist_prompt_adherence(images, setup.prompts, setup.cfg.cache_dir)
            if setup.data["name"] == "mnist"
            else None
        )
        per_strategy[strategy] = {
            "delta_refine_mean": float(delta.mean()),
            "delta_refine_std": float(delta.std()),
            "prompt_adherence": None if adherence is None else adherence["accuracy"],
            "expert_evaluations": setup.usage.evaluations - before,
        }
    reference = "top2" if "top2" in deltas else next(iter(deltas))
    tau = float(torch.quantile(deltas[reference], cfg.refine_percentile / 100))
    for strategy, delta in deltas.items():
        per_strategy[strategy]["share_above_tau_refine"] = float((delta > tau).double().mean())
    name = distance.implementation["name"]
    rows = [
        [s, v["delta_refine_mean"], v["delta_refine_std"], v["share_above_tau_refine"], v["prompt_adherence"]]
        for s, v in per_strategy.items()
    ]
    table = markdown_table(
        [
            "strategy",
            f"Delta_refine ({name}) mean",
            "std",
            f"share > tau_refine ({tau:.4g})",
            "prompt adherence (mnist-cnn)",
        ],
        rows,
    )
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.boxplot([deltas[s].numpy() for s in deltas], tick_labels=list(deltas))
    axis.set_ylabel(f"Delta_refine ({name})")
    axis.set_title(f"N={cfg.refine_steps} vs 2N, n={setup.cfg.n}")
    result = {
        "per_strategy": per_strategy,
        "tau_refine": tau,
        "tau_refine_from": f"{cfg.refine_percentile}th percentile of {reference}",
        "N": cfg.refine_steps,
        "perceptual_distance": distance.implementation,
        "per_sample": {s: d.tolist() for s, d in deltas.items()},
        "protocol": protocol(__doc__),
    }
    return result, [("Step-refinement disagreement", table)], {"refine": figure}
