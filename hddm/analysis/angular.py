"""Table 2: under Top-2 routing, are the selected experts' velocities better aligned with the blended velocity?

Every expert is evaluated on every sample at every step (the blend itself is built from the same evaluations, so
the cost is K per sample-step against 2 for Top-2 sampling: K/2 times). Angle of each expert's velocity to the
blend; per (sample, step) the mean angle of the selected and of the non-selected experts, compared by a paired
t-test (pairs = sample x step), as in the paper's appendix F.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import torch
from scipy import stats

from hddm.analysis.geometry import angle_degrees
from hddm.analysis.jacobian import combine
from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import probed_euler, sample_batches
from hddm.errors import HddmError


def run(setup):
    if setup.num_experts < 3:
        raise HddmError(
            "angular_deviation compares selected with non-selected experts under Top-2: it needs at least 3 experts, "
            f"not {setup.num_experts}"
        )
    routing = setup.routing(strategy="topk", k=2)
    selected, others, steps_t = [], [], []
    started, before = time.time(), setup.usage.evaluations
    for start in range(0, setup.cfg.n, setup.cfg.batch_size):
        rows = slice(start, start + setup.cfg.batch_size)
        field = setup.field(routing, rows)

        def probe(n, x, t, field=field):
            _, weights = field.route(x, t)
            velocities = field.all_velocities(x, t)
            blend = combine(weights, velocities)
            angles = torch.stack([angle_degrees(v, blend) for v in velocities], 1)  # [B, K]
            chosen = (weights > 0).cpu()
            selected.append((angles * chosen).sum(1) / chosen.sum(1))
            others.append((angles * ~chosen).sum(1) / (~chosen).sum(1))
            steps_t.append(t.cpu().double())
            return blend, None

        probed_euler(probe, setup.noise[rows], setup.cfg.steps)
    seconds, evaluations = time.time() - started, setup.usage.evaluations - before
    started, before = time.time(), setup.usage.evaluations
    sample_batches(lambda rows: setup.field(routing, rows), setup.noise, setup.cfg.steps, setup.cfg.batch_size)
    top2_seconds, top2_evaluations = time.time() - started, setup.usage.evaluations - before
    sel, oth, t = torch.cat(selected), torch.cat(others), torch.cat(steps_t)
    test = stats.ttest_rel(sel.numpy(), oth.numpy())
    result = {
        "selected_deg": {"mean": float(sel.mean()), "std": float(sel.std())},
        "non_selected_deg": {"mean": float(oth.mean()), "std": float(oth.std())},
        "reduction_deg": float(oth.mean() - sel.mean()),
        "reduction_percent": float(100 * (1 - sel.mean() / oth.mean())),
        "paired_t_test": {
            "t": float(test.statistic),
            "p": float(test.pvalue),
            "pairs": len(sel),
            "pairing": "sample x step",
        },
        "cost": {
            "analysis_expert_evaluations": evaluations,
            "top2_run_expert_evaluations": top2_evaluations,
            "evaluation_ratio": evaluations / top2_evaluations,
            "bound_K_over_2": setup.num_experts / 2,
            "analysis_seconds": round(seconds, 2),
            "top2_run_seconds": round(top2_seconds, 2),
            "time_ratio": seconds / top2_seconds,
        },
        "protocol": protocol(__doc__),
    }
    rows = [
        ["selected (top-2)", result["selected_deg"]["mean"], result["selected_deg"]["std"]],
        ["non-selected", result["non_selected_deg"]["mean"], result["non_selected_deg"]["std"]],
        [
            "reduction",
            f"{result['reduction_deg']:.3g} deg ({result['reduction_percent']:.1f}%)",
            f"p = {test.pvalue:.3g} (paired, {len(sel)} pairs)",
        ],
    ]
    cost = markdown_table(
        ["", "expert evaluations", "seconds"],
        [
            ["angular analysis", evaluations, result["cost"]["analysis_seconds"]],
            ["top-2 sampling, same noise", top2_evaluations, result["cost"]["top2_run_seconds"]],
            [
                "ratio (bound K/2 = %g)" % (setup.num_experts / 2),
                result["cost"]["evaluation_ratio"],
                result["cost"]["time_ratio"],
            ],
        ],
    )
    figure, axis = plt.subplots(figsize=(5, 3))
    grid = sorted(set(t.tolist()), reverse=True)
    axis.plot(grid, [float(sel[t == g].mean()) for g in grid], label="selected")
    axis.plot(grid, [float(oth[t == g].mean()) for g in grid], label="non-selected")
    axis.invert_xaxis()
    axis.set_xlabel("t")
    axis.set_ylabel("angle to blend (deg)")
    axis.legend()
    axis.set_title(f"Top-2, K={setup.num_experts}, n={setup.cfg.n}")
    return (
        result,
        [
            (
                "Angular deviation from the blended velocity",
                markdown_table(["experts", "mean (deg)", "std (deg)"], rows),
            ),
            ("Cost", cost),
        ],
        {"angular_deviation": figure},
    )
