"""Tables 12 and 15 (expert switching): along each trajectory, the router's probability margin m_p and logit
margin m_z between its two best experts, the vector-field gap g = ||v_(1) - v_(2)||_2 and the switching score
S = g / (m_z + eps_sw); per trajectory min margins, max g, S_eff = max S and S_int = sum S h. Each predicts poor
convergence (Delta_refine above its analysis.switching_percentile-th percentile) with an AUC and a Spearman rho."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score

from hddm.analysis.jacobian import combine
from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import probed_euler, sample_batches
from hddm.errors import HddmError
from hddm.metrics.diversity import perceptual_distance


def two_best_velocities(field, x, t, best: torch.Tensor) -> torch.Tensor:
    """[2, B, ...]: the velocities of each sample's two best experts, every expert run only on its own rows."""
    out = torch.zeros((2, *x.shape), dtype=x.dtype, device=x.device)
    for k in best.unique().tolist():
        rows = torch.nonzero((best == k).any(1)).flatten()
        v = field.expert_velocity(k, x, t, rows)
        for slot in range(2):
            hit = best[rows, slot] == k
            out[slot, rows[hit]] = v[hit]
    return out


def run(setup):
    cfg = setup.cfg.analysis
    routing = setup.named_routing(cfg.switching_strategy)
    if routing.strategy not in ("top1", "topk") or routing.k > 2:
        raise HddmError("switching analyses Top-1 or Top-2 routing: set analysis.switching_strategy=top1 or top2")
    n_steps, h = cfg.refine_steps, 1.0 / cfg.refine_steps
    features = {name: [] for name in ("min_margin_p", "min_margin_logit", "max_gap", "S_eff", "S_int")}
    coarse = []
    for start in range(0, setup.cfg.n, setup.cfg.batch_size):
        rows = slice(start, start + setup.cfg.batch_size)
        field = setup.field(routing, rows)

        def probe(n, x, t, field=field):
            logits, weights = field.route(x, t)
            probs = torch.softmax(logits.float(), -1)
            top_logits, best = logits.float().topk(2, -1)
            top_probs = probs.gather(1, best)
            velocities = two_best_velocities(field, x, t, best)
            gap = (velocities[0] - velocities[1]).flatten(1).norm(dim=1).double()
            margin_z = (top_logits[:, 0] - top_logits[:, 1]).double()
            record = torch.stack(
                [(top_probs[:, 0] - top_probs[:, 1]).double(), margin_z, gap, gap / (margin_z + cfg.eps_switch)], 1
            ).cpu()
            return combine(weights.gather(1, best), velocities), record

        final, records = probed_euler(probe, setup.noise[rows], n_steps)
        coarse.append(final.cpu())
        per_step = torch.stack(records, 1)  # [B, steps, 4]
        features["min_margin_p"].append(per_step[..., 0].min(1).values)
        features["min_margin_logit"].append(per_step[..., 1].min(1).values)
        features["max_gap"].append(per_step[..., 2].max(1).values)
        features["S_eff"].append(per_step[..., 3].max(1).values)
        features["S_int"].append(per_step[..., 3].sum(1) * h)
    features = {k: torch.cat(v) for k, v in features.items()}
    fine = sample_batches(lambda rows: setup.field(routing, rows), setup.noise, 2 * n_steps, setup.cfg.batch_size).cpu()
    distance = perceptual_distance(cfg.lpips_weights)
    delta = distance(torch.cat(coarse).clamp(-1, 1), fine.clamp(-1, 1)).double()
    threshold = float(torch.quantile(delta, cfg.switching_percentile / 100))
    poor = (delta > threshold).numpy()
    predictors = {}
    for name, value in features.items():
        score = -value if name.startswith("min_margin") else value  # a small margin predicts failure
        predictors[name] = {
            "auc": float(roc_auc_score(poor, score.numpy())) if 0 < poor.sum() < len(poor) else None,
            "spearman_vs_delta_refine": float(stats.spearmanr(score.numpy(), delta.numpy()).statistic),
            "mean_poor": float(value[torch.from_numpy(poor)].mean()),
            "mean_rest": float(value[~torch.from_numpy(poor)].mean()),
        }
    rows = [
        [name, p["auc"], p["spearman_vs_delta_refine"], p["mean_poor"], p["mean_rest"]]
        for name, p in predictors.items()
    ]
    table = markdown_table(
        [
            "predictor (sign: higher = riskier)",
            "AUC (poor convergence)",
            "Spearman vs Delta_refine",
            "mean, poor",
            "mean, rest",
        ],
        rows,
    )
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.scatter(features["max_gap"].numpy(), delta.numpy(), s=8)
    axis.set_xlabel("max vector-field gap g")
    axis.set_ylabel(f"Delta_refine ({distance.implementation['name']})")
    axis.set_title(f"{cfg.switching_strategy}, n={setup.cfg.n}, N={n_steps} vs 2N")
    result = {
        "predictors": predictors,
        "poor_convergence": f"Delta_refine > {threshold:.4g} ({cfg.switching_percentile}th percentile)",
        "poor_count": int(poor.sum()),
        "strategy": cfg.switching_strategy,
        "eps_switch": cfg.eps_switch,
        "perceptual_distance": distance.implementation,
        "protocol": protocol(__doc__),
    }
    return result, [("Switching predictors of poor convergence", table)], {"switching": figure}
