"""Grow an ensemble without retraining anything: a new contributor's expert joins seven others.

    .venv/bin/python experiments/grow_ensemble/run.py            # both training seeds, one core each (~100 min, shared)
    .venv/bin/python experiments/grow_ensemble/run.py --init D   # the experts start from init bundle D, not the base
    .venv/bin/python experiments/grow_ensemble/run.py --table    # the tables only, from finished runs

Styled digits in K=8 label-free domain clusters (hddm.prepare cluster.k=8). Per training seed: Flow Matching experts of
clusters 0..6 fine-tuned from the shipped base, each with its own routing information (hddm.train_head: density-ratio
heads against plain digits, centroids), and the papers' router trained on those seven clusters only. Then the new
contributor trains cluster 7's expert and its routing information alone; the script checks that no byte of the seven
earlier bundles changed, and trains the centralized reference router on all eight clusters. Rows (Top-2, paper
conversion, Euler, CFG 3, the same noise and prompts in every row):
  (a) seven experts, the old router; (b) eight experts, the old router; (c) eight, the router retrained on all eight;
  (d) eight, density-ratio heads (x_t, t), and (d') the text-aware heads; (e) eight, centroid routing.
Prompts: every digit plainly and in each domain (all prompts), and the prompts that name the new cluster's domain.
Metrics on the shipped styled-cnn, with paired bootstrap 95 % intervals of each row's difference to (c).
"""

from __future__ import annotations

import argparse
import hashlib
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
K, NEW = 8, 7
EXPERT_STEPS, ROUTER_STEPS, HEAD_STEPS = 600, 300, 400
STEPS, CFG = 25, 3.0
PROMPT_SETS = {"all": (HERE / "prompts_all.txt", 180), "new": (HERE / "prompts_new.txt", 100)}
ROWS = {  # name: (experts, routing overrides, label)
    "seven": (range(NEW), ["ensemble.router={old}"], "(a) 7 experts, router of the 7"),
    "old_router": (range(K), ["ensemble.router={old}"], "(b) 8 experts, router of the 7"),
    "retrained": (range(K), ["ensemble.router={all}"], "(c) 8 experts, router retrained on all 8 (centralized)"),
    "heads": (range(K), ["routing.router=density_ratio"], "(d) 8 experts, density-ratio heads"),
    "heads_text": (
        range(K),
        ["routing.router=density_ratio", "routing.text_aware=true"],
        "(d') 8 experts, text-aware heads",
    ),
    "centroid": (range(K), ["routing.router=centroid"], "(e) 8 experts, centroid routing"),
}
REFERENCE = "retrained"


def expert_dir(cluster: int, seed: int) -> str:
    return f"runs/experts/fm_styled_digits_kmeans{K}_c{cluster}_tiny_s{seed}/expert"


def router_dir(which: str, seed: int) -> str:
    return f"runs/routers/router_styled_digits_kmeans{K}_{which}_s{seed}/router"


def sample_dir(row: str, prompts: str, seed: int) -> Path:
    return ROOT / f"runs/grow_ensemble/{row}_{prompts}_s{seed}"


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run(job: list[str], seed: int) -> None:
    print(f"[seed {seed}] python -m {' '.join(job)}", flush=True)
    result = subprocess.run([PY, "-m", *job], cwd=ROOT, env=env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"[seed {seed}] failed: {' '.join(job)}\n{result.stderr[-2000:]}")


def expert_job(cluster: int, seed: int, init: str) -> list[str]:
    return [
        "hddm.train",
        "experiment=styled_demo_expert",
        "objective=fm",
        f"init={init}",
        f"cluster={cluster}",
        f"partition.num_clusters={K}",
        f"trainer.max_steps={EXPERT_STEPS}",
        f"seed={seed}",
    ]


def head_job(cluster: int, seed: int) -> list[str]:
    return [
        "hddm.train_head",
        f"expert={expert_dir(cluster, seed)}",
        f"partition.num_clusters={K}",
        f"trainer.max_steps={HEAD_STEPS}",
        f"seed={seed}",
    ]


def router_job(which: str, clusters: range, seed: int) -> list[str]:
    return [
        "hddm.train_router",
        "data=styled_digits",
        "partition=file",
        f"partition.num_clusters={K}",
        f"clusters=[{','.join(map(str, clusters))}]",
        f"trainer.max_steps={ROUTER_STEPS}",
        f"trainer.val_check_interval={ROUTER_STEPS}",
        "trainer.enable_progress_bar=false",
        "optim.lr=1e-3",
        "optim.lr_min=1e-5",
        f"run_name={Path(router_dir(which, seed)).parent.name}",
        f"seed={seed}",
    ]


def bundle_digest(clusters: range, seed: int) -> dict[str, str]:
    """sha256 of every file of the given experts' bundles (weights, manifest, routing information)."""
    return {
        str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
        for c in clusters
        for path in sorted((ROOT / expert_dir(c, seed)).rglob("*"))
        if path.is_file()
    }


def sample_job(row: str, prompts: str, seed: int) -> list[str]:
    members, overrides, _ = ROWS[row]
    path, n = PROMPT_SETS[prompts]
    experts = "[" + ",".join(expert_dir(c, seed) for c in members) + "]"
    overrides = [o.format(old=router_dir("without_new", seed), all=router_dir("all", seed)) for o in overrides]
    return [
        "hddm.sample",
        f"ensemble.experts={experts}",
        "routing=top2",
        *overrides,
        f"n={n}",
        f"steps={STEPS}",
        f"cfg_scale={CFG}",
        f"prompts_file={path}",
        "grid_columns=10",
        "seed=0",
        f"hydra.run.dir={sample_dir(row, prompts, seed)}",
    ]


def run_lane(seed: int, init: str) -> None:
    for c in range(NEW):
        run(expert_job(c, seed, init), seed)
        run(head_job(c, seed), seed)
    run(router_job("without_new", range(NEW), seed), seed)
    before = bundle_digest(range(NEW), seed)
    run(expert_job(NEW, seed, init), seed)  # the new contributor: its own data, its own expert and routing information
    run(head_job(NEW, seed), seed)
    unchanged = bundle_digest(range(NEW), seed) == before
    (ROOT / "runs/grow_ensemble").mkdir(parents=True, exist_ok=True)
    (ROOT / f"runs/grow_ensemble/earlier_bundles_s{seed}.json").write_text(
        json.dumps({"files": len(before), "unchanged_after_adding_the_new_expert": unchanged}, indent=1)
    )
    run(router_job("all", range(K), seed), seed)
    for row in ROWS:
        for prompts in PROMPT_SETS:
            if not (sample_dir(row, prompts, seed) / "record.json").is_file():
                run(sample_job(row, prompts, seed), seed)


def new_domain() -> str:
    """The domain most of the new cluster's items are in (the partition is label-free; the labels only name it)."""
    from hddm.data.styled_digits import majority_domain

    cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    return majority_domain(cache, f"{cache}/partitions/styled_digits_kmeans{K}.safetensors", NEW)


def write_prompts() -> str:
    from hddm.data.styled_digits import DOMAINS, domain_prompt

    domain = new_domain()
    PROMPT_SETS["all"][0].write_text(
        "\n".join(domain_prompt(d, x) for d in range(10) for x in (None, *(x.name for x in DOMAINS))) + "\n"
    )
    PROMPT_SETS["new"][0].write_text("\n".join(domain_prompt(d, domain) for d in range(10)) + "\n")
    return domain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", action="store_true", help="only write the tables from finished runs")
    parser.add_argument(
        "--init",
        default="base",
        help="the experts' starting point: the shipped base, or an init bundle's folder (hddm.inits export)",
    )
    args = parser.parse_args()
    if not args.table:
        subprocess.run(
            [
                PY,
                "-m",
                "hddm.prepare",
                "data=styled_digits",
                f"cluster.k={K}",
                "cluster.fine_k=64",
                "hydra.run.dir=runs/grow_ensemble/clusters",
            ],
            cwd=ROOT,
            env=env(),
            check=True,
        )
        write_prompts()
        with ThreadPoolExecutor(len(SEEDS)) as pool:
            list(pool.map(run_lane, SEEDS, [args.init] * len(SEEDS)))
    sys.path.insert(0, str(HERE))
    from report import write_tables

    print(write_tables(new_domain()))


if __name__ == "__main__":
    main()
