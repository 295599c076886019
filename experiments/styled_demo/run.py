"""The `make demo` ensemble against a monolithic model on styled digits, on two training seeds.

    .venv/bin/python experiments/styled_demo/run.py            # both seeds, ~35 min on this 2-core CPU
    .venv/bin/python experiments/styled_demo/run.py --table    # the tables only, from finished runs

Per training seed: the demo's four experts (K=4 domain clusters, cluster 1 DDPM, the others Flow Matching, each
fine-tuned from the shipped base for DEMO_STEPS steps) and the papers' router, exactly as `make demo` trains them
(seed 0 is the demo's own run, skipped when done); a monolithic Flow Matching model fine-tuned from the same base on
all the data for the same total number of steps (4 x DEMO_STEPS). Both are evaluated with the same prompts (every digit
plainly and in each of the eight domains), sampler and seeds: domain FID (styled-cnn) against the 10k test images,
k-NN precision/recall, digit adherence and domain adherence; the real-data floor is measured at the same n. One
lane per training seed, one core each; every job is skipped when done with the same config.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

PY = str(ROOT / ".venv" / "bin" / "python")
SEEDS = (0, 1)
DEMO_STEPS, ROUTER_STEPS, K, DDPM = 600, 200, 4, (1,)
N, STEPS, CFG = 450, 25, 3.0
PROMPTS = HERE / "prompts.txt"
METRICS = "metrics=[domain_fid,clip,precision_recall]"
HEADLINE = ("domain_fid_styled_cnn", "precision", "recall", "digit_adherence_styled_cnn", "domain_adherence_styled_cnn")


def objective(cluster: int) -> str:
    return "ddpm" if cluster in DDPM else "fm"


def expert_dir(cluster: int, seed: int) -> str:
    return f"runs/experts/{objective(cluster)}_styled_digits_kmeans{K}_c{cluster}_tiny_s{seed}/expert"


def router_run(seed: int) -> str:
    return f"router_styled_digits_kmeans{K}_tiny_text-False_s{seed}"


def monolithic_dir(seed: int) -> str:
    return f"runs/experts/fm_styled_digits_digits1_c0_tiny_s{seed}/expert"


def jobs(seed: int) -> list[list[str]]:
    """The lane of one training seed, in order (each a `python -m` command line)."""
    seed_arg = [] if seed == 0 else [f"seed={seed}"]  # seed 0: the demo's own command lines, so its runs are reused
    lane = [
        [
            "hddm.train",
            "experiment=styled_demo_expert",
            f"objective={objective(c)}",
            f"cluster={c}",
            f"trainer.max_steps={DEMO_STEPS}",
            *seed_arg,
        ]
        for c in range(K)
    ]
    lane.append(
        [
            "hddm.train_router",
            "data=styled_digits",
            "partition=file",
            f"partition.num_clusters={K}",
            f"trainer.max_steps={ROUTER_STEPS}",
            f"trainer.val_check_interval={ROUTER_STEPS}",
            "trainer.enable_progress_bar=false",
            "optim.lr=1e-3",
            "optim.lr_min=1e-5",
            "text_aware=False",
            f"run_name={router_run(seed)}",
            *seed_arg,
        ]
    )
    lane.append(
        [
            "hddm.train",
            "experiment=styled_demo_expert",
            "objective=fm",
            "partition=mnist_digits",
            "partition.num_clusters=1",
            "cluster=0",
            f"trainer.max_steps={K * DEMO_STEPS}",
            f"trainer.val_check_interval={K * DEMO_STEPS // 2}",
            f"checkpoint.every_n_steps={K * DEMO_STEPS // 2}",
            f"seed={seed}",
        ]
    )
    experts = "[" + ",".join(expert_dir(c, seed) for c in range(K)) + "]"
    sampler = [
        f"n={N}",
        f"steps={STEPS}",
        f"cfg_scale={CFG}",
        f"prompts_file={PROMPTS}",
        METRICS,
        "trainer.enable_progress_bar=false",
        "seed=0",
    ]
    lane.append(
        [
            "hddm.evaluate",
            f"ensemble.experts={experts}",
            f"ensemble.router=runs/routers/{router_run(seed)}/router",
            "routing=top2",
            *sampler,
            f"hydra.run.dir={eval_dir('top2', seed)}",
        ]
    )
    lane.append(
        [
            "hddm.evaluate",
            f"ensemble.experts=[{monolithic_dir(seed)}]",
            "ensemble.router=null",
            "routing=top1",
            *sampler,
            f"hydra.run.dir={eval_dir('monolithic', seed)}",
        ]
    )
    return lane


def eval_dir(row: str, seed: int) -> str:
    return f"runs/styled_demo/{row}_s{seed}"


def run_lane(seed: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for job in jobs(seed):
        print(f"[seed {seed}] python -m {' '.join(job)}", flush=True)
        result = subprocess.run([PY, "-m", *job], cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"[seed {seed}] failed: {' '.join(job)}\n{result.stderr[-2000:]}")


def write_prompts() -> None:
    from hddm.data.styled_digits import DOMAINS, domain_prompt

    lines = [domain_prompt(d, domain) for d in range(10) for domain in (None, *(x.name for x in DOMAINS))]
    PROMPTS.write_text("\n".join(lines) + "\n")


def real_floor(n: int) -> dict:
    """The metrics of n real styled-digits validation images, in place of generated ones."""
    import numpy as np
    import torch

    from hddm.data.styled_digits import load_styled
    from hddm.metrics.domain_fid import ClassifierFeatures, make_domain_fid
    from hddm.metrics.precision_recall import precision_recall
    from hddm.metrics.reference_stats import reference_images
    from hddm.metrics.styled import styled_logits

    cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    val = load_styled(cache, "val")
    rows = np.random.default_rng(0).choice(len(val.digits), n, replace=False)
    images = torch.from_numpy(val.images[rows])
    test, _ = reference_images("styled_digits", "test", cache)
    fid = make_domain_fid(cache, "styled_digits")
    fid.update(test, real=True)
    fid.update(images, real=False)
    features = ClassifierFeatures(cache, "styled_digits")
    subset, _ = reference_images("styled_digits", "test", cache, max_items=n)
    pr = precision_recall(features(subset), features(images))
    digit_logits, domain_logits = styled_logits(images.float() / 127.5 - 1)
    return {
        "domain_fid_styled_cnn": float(fid.compute()),
        **pr,
        "digit_adherence_styled_cnn": float((digit_logits.argmax(1).numpy() == val.digits[rows]).mean()),
        "domain_adherence_styled_cnn": float((domain_logits.argmax(1).numpy() == val.domains[rows]).mean()),
    }


def table() -> str:
    import statistics

    rows = {
        f"monolithic (FM, {K * DEMO_STEPS} steps from the base)": "monolithic",
        f"Top-2 ensemble ({K - len(DDPM)} FM + {len(DDPM)} DDPM, {DEMO_STEPS} steps each, papers' router)": "top2",
    }
    lines = ["| row | seed | " + " | ".join(HEADLINE) + " | seconds |", "|---|---|" + "---|" * (len(HEADLINE) + 1)]
    pooled = {}
    for label, row in rows.items():
        for seed in SEEDS:
            path = ROOT / eval_dir(row, seed) / "results.json"
            if not path.is_file():
                continue
            result = json.loads(path.read_text())
            (HERE / "results").mkdir(exist_ok=True)
            (HERE / "results" / f"{row}_s{seed}.json").write_text(path.read_text())  # the evidence, committed
            values = [result["metrics"][name] for name in HEADLINE]
            pooled.setdefault(label, []).append(values)
            lines.append(
                f"| {label} | {seed} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {result['seconds']} |"
            )
    for label, runs in pooled.items():
        means = [statistics.mean(column) for column in zip(*runs)]
        lines.append(f"| {label} | mean | " + " | ".join(f"{v:.3f}" for v in means) + " | |")
    floor = real_floor(N)
    lines.append(
        "| real styled-digits validation images (floor) | - | "
        + " | ".join(f"{floor[n]:.3f}" for n in HEADLINE)
        + " | |"
    )
    return (
        "\n".join(lines)
        + f"\n\nn = {N} per row, Euler {STEPS} steps, CFG {CFG}, sampling seed 0; prompts: {PROMPTS.name}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", action="store_true", help="only write the table from finished runs")
    args = parser.parse_args()
    if not args.table:
        write_prompts()
        with ThreadPoolExecutor(len(SEEDS)) as pool:
            list(pool.map(run_lane, SEEDS))
    text = table()
    (HERE / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
