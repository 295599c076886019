"""Tables 7-9 (rescue attempts): inference-only changes to the full ensemble — router temperature, top-p
truncation, misaligned (random) Top-2, and weight clipping (at each state, experts whose velocity Jacobian norm
is above the median over experts get weight 0, the rest are renormalised) — each scored by Delta_refine and
prompt adherence against plain full and Top-2 routing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from hddm.analysis.jacobian import combine, spectral_norm
from hddm.analysis.refine import refinement
from hddm.analysis.report import markdown_table, protocol
from hddm.metrics.adherence import mnist_prompt_adherence
from hddm.metrics.diversity import perceptual_distance


class ClippedField:
    """Full-ensemble weights with the experts of above-median Jacobian norm (per sample) suppressed."""

    def __init__(self, field, iterations: int):
        self.field, self.iterations = field, iterations

    def __call__(self, x, t):
        _, weights = self.field.route(x, t)
        with torch.enable_grad():
            norms = torch.stack(
                [
                    spectral_norm(lambda y, k=k: self.field.expert_velocity(k, y, t), x, self.iterations)
                    for k in range(weights.shape[1])
                ],
                1,
            )
        kept = weights * (norms <= norms.median(dim=1, keepdim=True).values).to(weights)
        velocities = self.field.all_velocities(x, t)
        return combine(kept / kept.sum(1, keepdim=True), velocities)


def variants(setup) -> dict:
    cfg = setup.cfg.analysis
    full = setup.routing(strategy="full")
    out = {
        "full (T=1)": lambda rows: setup.field(full, rows),
        "top2": lambda rows: setup.field(setup.named_routing("top2"), rows),
        "misaligned top2 (random)": lambda rows: setup.field(setup.named_routing("random_top2"), rows),
    }
    for temperature in cfg.temperatures:
        out[f"full T={temperature:g}"] = lambda rows, r=setup.routing(strategy="full", temperature=temperature): (
            setup.field(r, rows)
        )
    for top_p in cfg.top_ps:
        out[f"full top-p={top_p:g}"] = lambda rows, r=setup.routing(strategy="full", top_p=top_p): setup.field(r, rows)
    if cfg.clip_iterations > 0:
        out["full, Jacobian-median clipping"] = lambda rows: ClippedField(setup.field(full, rows), cfg.clip_iterations)
    return out


def run(setup):
    distance = perceptual_distance(setup.cfg.analysis.lpips_weights)
    per_variant = {}
    for name, field_of_rows in variants(setup).items():
        before, entropy_before, pairs_before = setup.usage.evaluations, setup.usage.entropy, setup.usage.pairs
        delta, images = refinement(setup, field_of_rows, distance)
        adherence = (
            mnist_prompt_adherence(images, setup.prompts, setup.cfg.cache_dir)
            if setup.data["name"] == "mnist"
            else None
        )
        pairs = setup.usage.pairs - pairs_before  # 0 for clipping, whose weights bypass the usage statistics
        per_variant[name] = {
            "delta_refine_mean": float(delta.mean()),
            "delta_refine_std": float(delta.std()),
            "prompt_adherence": None if adherence is None else adherence["accuracy"],
            "routing_entropy_nats": (setup.usage.entropy - entropy_before) / pairs if pairs else "n/a",
            "expert_evaluations": setup.usage.evaluations - before,
        }
    label = distance.implementation["name"]
    rows = [
        [n, v["delta_refine_mean"], v["delta_refine_std"], v["routing_entropy_nats"], v["prompt_adherence"]]
        for n, v in per_variant.items()
    ]
    table = markdown_table(
        ["variant", f"Delta_refine ({label})", "std", "router entropy (nats)", "prompt adherence (mnist-cnn)"], rows
    )
    figure, axis = plt.subplots(figsize=(7, 3))
    axis.barh(list(per_variant), [v["delta_refine_mean"] for v in per_variant.values()])
    axis.set_xlabel(f"Delta_refine ({label})")
    axis.set_title(f"n={setup.cfg.n}, N={setup.cfg.analysis.refine_steps} vs 2N")
    result = {
        "per_variant": per_variant,
        "perceptual_distance": distance.implementation,
        "N": setup.cfg.analysis.refine_steps,
        "protocol": protocol(__doc__),
    }
    return result, [("Rescue attempts on the full ensemble", table)], {"rescue": figure}
