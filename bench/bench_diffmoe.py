"""CPU time per training step of DiffMoE (paper 003) against the dense DiT at equal activated parameters.

One training step = forward + MSE loss (+ the capacity-predictor BCE for DiffMoE) + backward + hddm's fused
AdamW step, fp32, no torch.compile. Pairs: DiffMoE-S-E16 vs dense DiT-S/2 (4x32x32 latents, 77x768 text) and
the tiny MNIST pair (1x28x28). The DiffMoE model holds ~4.6x the dense parameters but activates the same
per token (capacity 1: every expert takes B*S/N tokens). After warm-up the timed steps alternate the two
models (ABBA), so load from other processes hits both alike; the median ratio is what counts (target <= 1.4x).

Run (from the repository root; ~3 min for the S pair on an idle 2-core machine):
    .venv/bin/python bench/bench_diffmoe.py               # both pairs -> bench/results/diffmoe_train_step.{json,md}
    .venv/bin/python bench/bench_diffmoe.py --pairs tiny --repeats 6
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hddm.lit.optim import adamw  # noqa: E402
from hddm.models.dit import DiT, get_dit_size  # noqa: E402
from hddm.models.moe_accounting import activated_parameters, capacity_predictor_loss  # noqa: E402

TARGET = 1.4
PAIRS = {  # name: (dense size, DiffMoE size, channels, image size, text tokens, text dim, batch)
    "s": ("dit_s2", "diffmoe_s_e16", 4, 32, 77, 768, 16),
    "tiny": ("tiny", "diffmoe_tiny_e16", 1, 28, 16, 384, 64),
}


def make_step(size_name, channels, image_size, text_len, text_dim, batch):
    torch.manual_seed(0)
    model = DiT(get_dit_size(size_name), channels, image_size, text_dim).train()
    optimizer = adamw(model.parameters(), torch.device("cpu"), 1e-4, (0.9, 0.999), 1e-8, 0.0)
    x, t = torch.randn(batch, channels, image_size, image_size), torch.rand(batch) * 999
    text, target = torch.randn(batch, text_len, text_dim), torch.randn(batch, channels, image_size, image_size)

    def step():
        loss = F.mse_loss(model(x, t, text), target)
        predictor = capacity_predictor_loss(model)
        optimizer.zero_grad(set_to_none=True)
        (loss if predictor is None else loss + predictor).backward()
        optimizer.step()

    return model, step


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def bench_pair(name, repeats, warmup):
    dense_name, moe_name, channels, image_size, text_len, text_dim, batch = PAIRS[name]
    dense, dense_step = make_step(dense_name, channels, image_size, text_len, text_dim, batch)
    moe, moe_step = make_step(moe_name, channels, image_size, text_len, text_dim, batch)
    for _ in range(warmup):
        dense_step(), moe_step()
    times = {"dense": [], "diffmoe": []}
    for i in range(repeats):  # ABBA: dense, moe, moe, dense, ...
        order = [("dense", dense_step), ("diffmoe", moe_step)]
        for key, step in order if i % 2 == 0 else order[::-1]:
            times[key].append(timed(step))
    ratios = [m / d for m, d in zip(times["diffmoe"], times["dense"])]
    return {
        "pair": name,
        "dense": dense_name,
        "diffmoe": moe_name,
        "batch": batch,
        "shape": [channels, image_size, image_size],
        "text": [text_len, text_dim],
        "tokens_per_step": batch * (image_size // get_dit_size(dense_name).patch_size) ** 2,
        "params": {
            "dense": sum(p.numel() for p in dense.parameters()),
            "diffmoe": sum(p.numel() for p in moe.parameters()),
        },
        "activated_params": {"dense": activated_parameters(dense), "diffmoe_at_c1": activated_parameters(moe, 1.0)},
        "seconds_per_step": {
            k: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v} for k, v in times.items()
        },
        "ratio_median_of_pairs": statistics.median(ratios),
        "ratio_pairs": [min(ratios), max(ratios)],
        "ratio_best_vs_best": min(times["diffmoe"]) / min(times["dense"]),
    }


def markdown(record) -> str:
    lines = [
        "# DiffMoE vs dense DiT: time per training step (CPU, fp32)",
        "",
        f"Command: `{record['command']}`  ",
        f"Machine: {record['machine']}, torch {record['torch']} ({record['threads']} threads), {record['date']}; "
        f"load average at start {record['load_start']}, at end {record['load_end']}.",
        "",
        "Step = forward + MSE (+ capacity-predictor BCE) + backward + fused AdamW. Median over interleaved (ABBA) "
        "repeats, min-max in brackets; the ratio is the median of per-pair ratios.",
        "",
        "| pair | model | params | activated params (C=1) | s/step | DiffMoE / dense |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        s = r["seconds_per_step"]
        lines.append(
            f"| {r['pair']} | {r['dense']} | {r['params']['dense']:,} | {r['activated_params']['dense']:,} | "
            f"{s['dense']['median']:.3f} ({s['dense']['min']:.3f}-{s['dense']['max']:.3f}) | |"
        )
        lines.append(
            f"| {r['pair']} | {r['diffmoe']} | {r['params']['diffmoe']:,} | {r['activated_params']['diffmoe_at_c1']:,} | "
            f"{s['diffmoe']['median']:.3f} ({s['diffmoe']['min']:.3f}-{s['diffmoe']['max']:.3f}) | "
            f"**{r['ratio_median_of_pairs']:.2f}x** (pairs {r['ratio_pairs'][0]:.2f}-{r['ratio_pairs'][1]:.2f}; "
            f"best/best {r['ratio_best_vs_best']:.2f}x) |"
        )
    lines += ["", f"Target: DiffMoE <= {TARGET}x the dense step time."]
    for r in record["results"]:
        verdict = "MET" if r["ratio_median_of_pairs"] <= TARGET else "NOT met"
        lines.append(
            f"- {r['pair']}: {r['ratio_median_of_pairs']:.2f}x -> target {verdict} (batch {r['batch']}, "
            f"shape {r['shape']}, text {r['text']}, {r['tokens_per_step']} tokens per step)."
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "diffmoe_train_step"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    record = {
        "command": "python bench/bench_diffmoe.py " + shlex.join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    record["results"] = [bench_pair(name, args.repeats, args.warmup) for name in args.pairs]
    record["load_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(record, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
