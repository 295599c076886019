"""Table 1: does routing select the experts whose training clusters are nearest the current state?

At t in analysis.times during sampling, the state is embedded in the clustering feature space twice — the routed
field's clean estimate x0_hat (what the paper's decoded latent stands for) and the raw x_t — and the K expert
centroids are ranked by distance. Reported per strategy: the mean of the minimum rank over the selected experts
and the share of states where a selected expert is among the two nearest. The full ensemble selects every expert
(minimum rank 1 trivially), so its row uses the highest-weight expert; the random row is the analytic baseline.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from hddm.analysis.embedding import ClusterEmbedder, centroid_ranks, expert_centroids, selected_rank
from hddm.analysis.report import markdown_table, protocol
from hddm.analysis.trajectories import nearest_steps, probed_euler


def run(setup):
    cfg = setup.cfg.analysis
    embed = ClusterEmbedder(setup.cfg.cache_dir, setup.data, cfg.feature_metric)
    centroids = expert_centroids(cfg.partition_path, setup.base.experts, cfg.feature_metric)
    at = nearest_steps(setup.cfg.steps, cfg.times)
    per_strategy = {}
    for strategy in cfg.strategies:
        routing = setup.named_routing(strategy)
        ranks = {"x0_hat": [], "x_t": []}
        for start in range(0, setup.cfg.n, setup.cfg.batch_size):
            rows = slice(start, start + setup.cfg.batch_size)
            field = setup.field(routing, rows)

            def probe(n, x, t, field=field):
                _, weights = field.route(x, t)
                velocity = field(x, t)
                if n not in at:
                    return velocity, None
                chosen = (
                    weights > 0
                    if strategy != "full"
                    else torch.nn.functional.one_hot(weights.argmax(1), weights.shape[1]).bool()
                )
                for state, image in (("x0_hat", setup.clean_estimate(velocity, x, t)), ("x_t", x)):
                    ranks[state].append(selected_rank(centroid_ranks(embed(image), centroids), chosen.cpu()))
                return velocity, None

            probed_euler(probe, setup.noise[rows], setup.cfg.steps)
        per_strategy[strategy] = {
            state: {
                "mean_rank": float(torch.cat(r).double().mean()),
                "top2_match_rate": float((torch.cat(r) <= 2).double().mean()),
                "states": len(torch.cat(r)),
            }
            for state, r in ranks.items()
        }
    k = setup.num_experts
    per_strategy["random (analytic)"] = {
        s: {"mean_rank": (k + 1) / 2, "top2_match_rate": 2 / k, "states": 0} for s in ("x0_hat", "x_t")
    }
    label = {"full": "full (highest weight)"}
    rows = [
        [
            label.get(s, s),
            v["x0_hat"]["mean_rank"],
            f"{100 * v['x0_hat']['top2_match_rate']:.1f}%",
            v["x_t"]["mean_rank"],
            f"{100 * v['x_t']['top2_match_rate']:.1f}%",
            v["x0_hat"]["states"],
        ]
        for s, v in per_strategy.items()
    ]
    table = markdown_table(
        ["strategy", "mean rank (x0_hat)", "top-2 match (x0_hat)", "mean rank (x_t)", "top-2 match (x_t)", "states"],
        rows,
    )
    figure, axis = plt.subplots(figsize=(5, 3))
    names = list(per_strategy)
    axis.bar(range(len(names)), [per_strategy[s]["x0_hat"]["mean_rank"] for s in names])
    axis.set_xticks(range(len(names)), [label.get(s, s) for s in names], rotation=15)
    axis.set_ylabel("mean cluster rank (x0_hat)")
    axis.set_title(f"K={k}, n={setup.cfg.n}, t={sorted(at.values())}")
    result = {
        "per_strategy": per_strategy,
        "times_used": sorted(at.values()),
        "embedding": embed.name,
        "distance": f"Euclidean on {'unit-normalised ' if cfg.feature_metric == 'cosine' else ''}features",
        "protocol": protocol(__doc__),
    }
    return result, [("Cluster rank of the selected experts (1 = nearest)", table)], {"cluster_rank": figure}
