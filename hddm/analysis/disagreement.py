"""Figure 1: does expert disagreement under the full ensemble explain its poor samples?

Full-ensemble sampling evaluates every expert anyway, so D(x_t) = mean pairwise ||v_i - v_j||_2 costs nothing
extra; D_int = sum_n D(x_tn) h. Each sample's distance to the Top-2 sample from the same noise and prompt
(perceptual distance and MSE) is reported per quartile of D_int, with Spearman's rho.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from scipy import stats

from hddm.analysis.geometry import mean_pairwise_distance
from hddm.analysis.jacobian import combine
from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import probed_euler, sample_batches
from hddm.metrics.diversity import perceptual_distance


def run(setup):
    distance = perceptual_distance(setup.cfg.analysis.lpips_weights)
    full = setup.routing(strategy="full")
    integrated, finals, profile = [], [], []
    h = 1.0 / setup.cfg.steps
    for start in range(0, setup.cfg.n, setup.cfg.batch_size):
        rows = slice(start, start + setup.cfg.batch_size)
        field = setup.field(full, rows)

        def probe(n, x, t, field=field):
            _, weights = field.route(x, t)
            velocities = field.all_velocities(x, t)
            return combine(weights, velocities), mean_pairwise_distance(velocities).cpu()

        final, per_step = probed_euler(probe, setup.noise[rows], setup.cfg.steps)
        finals.append(final.cpu())
        integrated.append(torch.stack(per_step, 1).sum(1) * h)
        profile.append(torch.stack(per_step, 1))
    full_images, d_int = torch.cat(finals), torch.cat(integrated)
    top2 = sample_batches(
        lambda rows: setup.field(setup.routing(strategy="topk", k=2), rows),
        setup.noise,
        setup.cfg.steps,
        setup.cfg.batch_size,
    ).cpu()
    to_top2 = distance(full_images.clamp(-1, 1), top2.clamp(-1, 1)).double()
    mse = (full_images - top2).pow(2).flatten(1).mean(1).double()
    quartile = torch.bucketize(
        d_int, torch.quantile(d_int, torch.tensor([0.25, 0.5, 0.75], dtype=d_int.dtype)), right=True
    )
    rows = [
        [
            f"Q{q + 1}",
            int((quartile == q).sum()),
            float(d_int[quartile == q].mean()),
            float(to_top2[quartile == q].mean()),
            float(mse[quartile == q].mean()),
        ]
        for q in range(4)
    ]
    rho = stats.spearmanr(d_int.numpy(), to_top2.numpy())
    rho_mse = stats.spearmanr(d_int.numpy(), mse.numpy())
    name = distance.implementation["name"]
    result = {
        "quartiles": [dict(zip(["quartile", "n", "D_int", name, "mse"], r)) for r in rows],
        "spearman_D_int_vs_distance": {"rho": float(rho.statistic), "p": float(rho.pvalue)},
        "spearman_D_int_vs_mse": {"rho": float(rho_mse.statistic), "p": float(rho_mse.pvalue)},
        "mean_D_per_step": torch.cat(profile).mean(0).tolist(),
        "perceptual_distance": distance.implementation,
        "protocol": protocol(__doc__),
    }
    figure, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].bar([r[0] for r in rows], [r[3] for r in rows])
    axes[0].set_ylabel(f"{name} to matched Top-2")
    axes[0].set_xlabel("quartile of integrated disagreement")
    axes[1].plot(torch.linspace(1, 0, setup.cfg.steps + 1)[:-1], result["mean_D_per_step"])
    axes[1].invert_xaxis()
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("mean pairwise ||v_i - v_j||")
    figure.suptitle(f"full ensemble, K={setup.num_experts}, n={setup.cfg.n}")
    table = markdown_table(["quartile of D_int", "n", "mean D_int", f"{name} to Top-2", "MSE to Top-2"], rows)
    return (
        result,
        [(f"Disagreement quartiles (Spearman rho = {rho.statistic:.3f}, p = {rho.pvalue:.3g})", table)],
        {"disagreement": figure},
    )
