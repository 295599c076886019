"""Cost of the routing logits per sampling step, by source, beside one expert's guided evaluation.

Sources: the papers' trained router (one classifier over K clusters, the experts' trunk), K density-ratio heads
(hddm.train_head's default size, one per expert), and centroid routing (colour-quantile features of the x0 estimate,
distance to 4 centroids per expert; pixel space only). All weights random: the cost does not depend on training.
Measured interleaved in one run, median of rounds; the unit is one expert's conditional + unconditional pass.

    .venv/bin/python bench/bench_routing_sources.py            # tiny pixels (B=64) and DiT-S/2 latents (B=16), K=8
    .venv/bin/python bench/bench_routing_sources.py --quick
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch
from bench_routing import SETTINGS, measure_sizes, write_results

from hddm.config import HeadSizeConfig
from hddm.data.features import ColourQuantiles
from hddm.diffusion.conversion import Conversion
from hddm.diffusion.objectives import make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.ensemble.guidance import guided_velocity
from hddm.ensemble.members import Expert
from hddm.models.dit import DIT_SIZES, DiT, DiTConfig
from hddm.models.router import Router
from hddm.routing.scores import CentroidScores, DensityRatioScores, TrainedRouterScores

RESULTS = Path(__file__).resolve().parent / "results"
PIXEL_SETTINGS = {"tiny": (3, 28, 16, 384, 64)}  # the embedded default is RGB styled digits


@torch.no_grad()
def seconds(call, repeats: int) -> float:
    call()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats


def measure(size: str, k: int, rounds: int, repeats: int) -> dict:
    channels, image, tokens, text_dim, batch = PIXEL_SETTINGS.get(size, SETTINGS[size])
    torch.manual_seed(0)
    expert = Expert(
        DiT(DIT_SIZES[size], channels, image, text_dim).eval(),
        make_objective("velocity", get_schedule("linear")),
        torch.zeros(tokens, text_dim),
        torch.ones(tokens, dtype=torch.bool),
        {"cluster": 0},
    )
    x, t = torch.randn(batch, channels, image, image), torch.full((batch,), 0.5)
    text, mask = torch.randn(batch, tokens, text_dim), torch.ones(batch, tokens, dtype=torch.bool)
    head_size = DiTConfig(**asdict(HeadSizeConfig()))
    router = TrainedRouterScores(Router(DIT_SIZES[size], channels, image, k).eval(), list(range(k)), 999.0)
    heads = DensityRatioScores(
        [Router(head_size, channels, image, 1).eval() for _ in range(k)], torch.zeros(k), 999.0, False
    )
    calls = {
        "one expert (cond + uncond)": lambda: guided_velocity(expert, x, t, text, mask, 3.0, Conversion()),
        "trained router": lambda: router.logits(x, t, text, mask),
        f"{k} density-ratio heads": lambda: heads.logits(x, t, text, mask),
    }
    if channels == 3:
        centroids = CentroidScores([torch.randn(4, 30) for _ in range(k)], ColourQuantiles(), get_schedule("linear"), 1)
        centroids.observe(x, t, torch.zeros_like(x))
        calls["centroid routing (every step)"] = lambda: (
            setattr(centroids, "scores", None),
            centroids.logits(x, t, text, mask),
        )
    times = {name: [] for name in calls}
    for _ in range(rounds):  # interleaved, so drift of the machine hits every source alike
        for name, call in calls.items():
            times[name].append(seconds(call, repeats))
    medians = {name: statistics.median(values) for name, values in times.items()}
    unit = medians["one expert (cond + uncond)"]
    return {
        "size": size,
        "experts": k,
        "batch": batch,
        "head_size": asdict(HeadSizeConfig()),
        "seconds": {name: round(m, 5) for name, m in medians.items()},
        "ratio_to_one_expert": {name: round(m / unit, 3) for name, m in medians.items()},
    }


def main() -> None:
    args, results = measure_sizes(measure, __doc__)
    rows = [
        f"| {r['size']} | {r['batch']} | {name} | {value:.4f} | {r['ratio_to_one_expert'][name]} |"
        for r in results
        for name, value in r["seconds"].items()
    ]
    header = ["| size | batch | source | s / step | x one expert's guided pass |", "|---|---|---|---|---|"]
    title = f"Routing logits per step by source (K={args.experts})"
    write_results("routing_sources", title, results, [*header, *rows], args.quick)


if __name__ == "__main__":
    main()
