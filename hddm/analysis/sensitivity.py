"""Table 3 / Table 6 (trajectory sensitivity): L_eff^(h) = max over the Euler grid (h = 1/steps) of the spectral
norm of the routed field's Jacobian, by power iteration (torch.func JVP/VJP, never the dense Jacobian), and the
norms of its two terms, the expert term sum_k w_k J v_k and the router term sum_k v_k grad w_k.

The Jacobian is measured every analysis.jacobian_every steps and at the step nearest t = 0.5 (the maximum is over
those steps: a lower bound on the full-grid L_eff^(h)); experts none of the batch selects are left out (their
weight is 0 on an open set, so they add nothing to either term).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from hddm.analysis.jacobian import routed_terms, spectral_norm
from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import nearest_steps, probed_euler

TERMS = ("full", "expert", "router")


def jacobian_norms(field, x, t, iterations: int, seed: int) -> dict[str, torch.Tensor]:
    _, weights = field.route(x, t)
    active = torch.nonzero((weights > 0).any(0)).flatten().tolist()

    def weights_of(y):
        return field.route(y, t)[1][:, active]

    def velocities_of(y):
        return torch.stack([field.expert_velocity(k, y, t) for k in active])

    with torch.enable_grad():
        fields = routed_terms(weights_of, velocities_of, x)
        return {term: spectral_norm(fields[term], x, iterations, seed).cpu() for term in TERMS}


def run(setup):
    cfg = setup.cfg.analysis
    middle = next(iter(nearest_steps(setup.cfg.steps, [0.5])))
    measured = sorted(set(range(0, setup.cfg.steps, cfg.jacobian_every)) | {middle})
    per_strategy, profiles = {}, {}
    for strategy in cfg.strategies:
        before = setup.usage.evaluations
        norms = {term: [] for term in TERMS}
        at_middle = {term: [] for term in TERMS}
        for start in range(0, setup.cfg.n, setup.cfg.batch_size):
            rows = slice(start, start + setup.cfg.batch_size)
            field = setup.field(setup.named_routing(strategy), rows)
            batch = {term: [] for term in TERMS}

            def probe(n, x, t, field=field, batch=batch):
                if n in measured:
                    for term, value in jacobian_norms(field, x, t, cfg.power_iterations, setup.cfg.seed + n).items():
                        batch[term].append(value)
                        if n == middle:
                            at_middle[term].append(value)
                return field(x, t), None

            probed_euler(probe, setup.noise[rows], setup.cfg.steps)
            for term in TERMS:
                norms[term].append(torch.stack(batch[term], 1))  # [B, measured steps]
        norms = {term: torch.cat(v).double() for term, v in norms.items()}
        middle_norms = {term: torch.cat(v).double() for term, v in at_middle.items()}
        profiles[strategy] = {term: v.mean(0).tolist() for term, v in norms.items()}
        per_strategy[strategy] = {
            "L_eff_full": {
                "mean": float(norms["full"].max(1).values.mean()),
                "std": float(norms["full"].max(1).values.std()),
            },
            "L_eff_expert_term": {
                "mean": float(norms["expert"].max(1).values.mean()),
                "std": float(norms["expert"].max(1).values.std()),
            },
            "at_t_0.5": {term: {"mean": float(v.mean()), "std": float(v.std())} for term, v in middle_norms.items()},
            "L_eff_full_per_sample": norms["full"].max(1).values.tolist(),
            "expert_evaluations": setup.usage.evaluations - before,
        }
    grid = torch.linspace(1, 0, setup.cfg.steps + 1)[measured].tolist()
    rows = [
        [
            s,
            v["L_eff_full"]["mean"],
            v["L_eff_full"]["std"],
            v["L_eff_expert_term"]["mean"],
            v["at_t_0.5"]["expert"]["mean"],
            v["at_t_0.5"]["router"]["mean"],
            v["at_t_0.5"]["full"]["mean"],
        ]
        for s, v in per_strategy.items()
    ]
    table = markdown_table(
        [
            "strategy",
            "L_eff^(h) (full J)",
            "std",
            "L_eff^(h) (expert term)",
            "||J_expert|| t=0.5",
            "||J_router|| t=0.5",
            "||J|| t=0.5",
        ],
        rows,
    )
    figure, axes = plt.subplots(1, 2, figsize=(9, 3))
    for strategy, profile in profiles.items():
        axes[0].plot(grid, profile["expert"], marker="o", label=strategy)
        axes[1].plot(grid, [max(v, 1e-12) for v in profile["router"]], marker="o", label=strategy)
    for axis, title in zip(axes, ("expert term ||sum w_k J v_k||", "router term ||sum v_k grad w_k||")):
        axis.invert_xaxis()
        axis.set_xlabel("t")
        axis.set_title(title)
        axis.legend()
    axes[1].set_yscale("log")
    result = {
        "per_strategy": per_strategy,
        "h": 1 / setup.cfg.steps,
        "measured_t": grid,
        "power_iterations": cfg.power_iterations,
        "profiles": profiles,
        "protocol": protocol(__doc__),
    }
    return (
        result,
        [
            (
                f"Trajectory sensitivity (h = 1/{setup.cfg.steps}, {len(grid)} measured steps, {cfg.power_iterations} "
                "power iterations)",
                table,
            )
        ],
        {"sensitivity": figure},
    )
