"""Wall time per sampling step of a routed ensemble vs one expert.

K experts with random weights (cost does not depend on training), a router whose logits are random per
sample, batch B with CFG (each expert evaluates 2x its samples). Measured side by side, interleaved, in one
run: single expert, Top-1, Top-2, full ensemble. Targets: Top-2 <= 2.3x a single expert, full ~ K x.

    .venv/bin/python bench/bench_routing.py            # tiny (B=64) and DiT-S/2 (B=16 latents), K=8
    .venv/bin/python bench/bench_routing.py --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from hddm.diffusion.conversion import Conversion
from hddm.diffusion.objectives import make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.ensemble.field import EnsembleField
from hddm.ensemble.members import Expert
from hddm.models.dit import DIT_SIZES, DiT
from hddm.routing.scores import RoutingScores
from hddm.routing.strategies import Routing

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {  # size -> (channels, image, text tokens, text dim, batch)
    "tiny": (1, 28, 16, 384, 64),
    "dit_s2": (4, 32, 77, 768, 16),
}


class RandomScores(RoutingScores):
    """Fresh random logits per call: routing spread over all experts, the worst case for grouping."""

    def __init__(self, num_experts: int, seed: int = 0):
        self.num_experts, self.generator = num_experts, torch.Generator().manual_seed(seed)

    def logits(self, x, t, text, text_mask):
        return torch.randn(x.shape[0], self.num_experts, generator=self.generator)


def make_experts(size: str, k: int) -> list[Expert]:
    channels, image, tokens, text_dim, _ = SETTINGS[size]
    experts = []
    for cluster in range(k):
        prediction, schedule = ("epsilon", "cosine") if cluster % 4 == 1 else ("velocity", "linear")
        network = DiT(DIT_SIZES[size], channels, image, text_dim).eval().requires_grad_(False)
        experts.append(
            Expert(
                network,
                make_objective(prediction, get_schedule(schedule)),
                torch.zeros(tokens, text_dim),
                torch.ones(tokens, dtype=torch.bool),
                {"cluster": cluster},
            )
        )
    return experts


@torch.no_grad()
def step_seconds(field, x, t, repeats: int) -> float:
    field(x, t)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        field(x, t)
    return (time.perf_counter() - started) / repeats


def measure(size: str, k: int, rounds: int, repeats: int) -> dict:
    channels, image, tokens, text_dim, batch = SETTINGS[size]
    experts = make_experts(size, k)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, image, image, generator=g)
    t = torch.full((batch,), 0.5)
    text, mask = torch.randn(batch, tokens, text_dim, generator=g), torch.ones(batch, tokens, dtype=torch.bool)
    fields = {
        "single": EnsembleField(experts[:1], RandomScores(1), Routing("top1"), Conversion(), text, mask, 6.0),
        "top1": EnsembleField(experts, RandomScores(k), Routing("top1"), Conversion(), text, mask, 6.0),
        "top2": EnsembleField(experts, RandomScores(k), Routing("topk", k=2), Conversion(), text, mask, 6.0),
        "full": EnsembleField(experts, RandomScores(k), Routing("full"), Conversion(), text, mask, 6.0),
    }
    times = {name: [] for name in fields}
    for _ in range(rounds):  # interleaved, so drift of the machine hits every variant alike
        for name, field in fields.items():
            times[name].append(step_seconds(field, x, t, repeats))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "size": size,
        "experts": k,
        "batch": batch,
        "cfg": "cond+uncond in one batch per expert",
        "seconds_per_step": {
            n: {"median": round(m, 5), "min": round(min(times[n]), 5), "max": round(max(times[n]), 5)}
            for n, m in medians.items()
        },
        "ratio_to_single": {n: round(m / medians["single"], 3) for n, m in medians.items()},
        "targets": {
            "top2_at_most_2.3x": medians["top2"] / medians["single"] <= 2.3,
            "full_about_Kx": round(medians["full"] / medians["single"] / k, 3),
        },
    }


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def measure_sizes(measure, doc: str) -> tuple[argparse.Namespace, list[dict]]:
    """The routing benchmarks' command line (--experts, --rounds, --repeats, --quick) and measure(size, K, rounds,
    repeats) over the tiny and DiT-S/2 settings (tiny only with --quick)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 rounds x 1 repeat, tiny size only")
    args = parser.parse_args()
    sizes = ["tiny"] if args.quick else ["tiny", "dit_s2"]
    rounds, repeats = (2, 1) if args.quick else (args.rounds, args.repeats)
    return args, [measure(size, args.experts, rounds, repeats) for size in sizes]


def write_results(stem: str, title: str, results: list[dict], table: list[str], quick: bool) -> None:
    """bench/results/<stem>.json (results with command, date, machine) and <stem>.md (title, provenance, table);
    <stem>_quick.* with --quick, so a quick check never overwrites the full run."""
    stem = f"{stem}_quick" if quick else stem
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# {title}",
        "",
        f"`{report['command']}` on {report['machine']['cpu']}, {report['machine']['threads']} threads, torch "
        f"{report['machine']['torch']}, {report['date'][:10]}, load average at start "
        f"{' '.join(report['machine']['loadavg_start'])}",
        "",
        *table,
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    args, results = measure_sizes(measure, __doc__)
    rows = [
        f"| {r['size']} | {r['batch']} | {r['seconds_per_step']['single']['median']:.4f} | {r['ratio_to_single']['top1']}x | "
        f"{r['ratio_to_single']['top2']}x | {r['ratio_to_single']['full']}x | "
        f"{'yes' if r['targets']['top2_at_most_2.3x'] else 'no'} |"
        for r in results
    ]
    header = ["| size | batch | single s/step | top1 | top2 | full | top2 <= 2.3x |", "|---|---|---|---|---|---|---|"]
    write_results(
        "routing_dispatch", f"Routed sampling step cost (K={args.experts})", results, [*header, *rows], args.quick
    )


if __name__ == "__main__":
    main()
