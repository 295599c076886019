"""The papers' six experiments on styled digits (K=8 label-free domain clusters, every model fine-tuned from the shipped
base) as one graph of single-core jobs (experiments/job_pool.py): `make experiments` runs it, then the tables.

    .venv/bin/python experiments/styled_experiments/run.py [--scale cpu|gpu] [--select PATTERN ...] [--jobs 2] [--list]

Per training seed (0, 1):
  experts   Flow Matching on clusters 0..7; DDPM-eps (cosine) on the clusters of DDPM_ORDER; an FM expert on the cosine
            path on cluster CLUSTER (the paper's same-schedule setting); FM on the digit-aligned partition (label mod 8);
            the monolithic FM model on all data for K x the expert steps, dense, and upcycled into token-choice MoE
            layers with about K x its parameters at the dense model's FLOPs (capacity apart from specialisation)
  routers   the papers' router (x_t, t) of the domain clusters, its text-aware variant, the digit partition's router
Per training seed and sampling seed (0, 1), `hddm.sample` runs that share noise and prompts, so sample i of two rows
is a pair for the bootstrap (report.py):
  exp1      monolithic (dense, K x parameters); 8 FM experts Top-1 / Top-2 / full; oracle routing (the prompt's domain); text-aware router;
            the digit-aligned ensemble
  exp26     0 / 1 / 2 / 4 DDPM experts of 8, Top-2 (experiment 2 is its 0-vs-2 pair)
  exp345    cluster CLUSTER's domain: threshold routing of an FM and a DDPM expert over tau, both orders and three
            conversions; a lone DDPM expert by native DDIM, ancestral DDPM, converted Euler and Heun
Runs land in runs/styled_experiments/; logs in runs/styled_experiments/logs/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from job_pool import Job, describe, needed, run  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
OUT = "runs/styled_experiments"
K = 8
CLUSTER = 0  # the single-cluster experiments' cluster
DDPM_ORDER = (0, 1, 2, 3)  # the ratio sweep's DDPM experts: the first 1, 2 or 4 of these
TRAINING_SEEDS, SAMPLING_SEEDS = (0, 1), (0, 1)
# the monolithic model with K x the parameters: the tiny DiT's 2 MoE layers with this many experts, each a copy of the
# base's FFN (hddm/models/upcycle.py): 10.25 M parameters, 7.98 x the dense 1.29 M; one expert per token
MOE_EXPERTS = 35
MOE_BALANCE = 0.01  # Switch Transformer's load-balancing weight: without it 2-4 of the 35 experts take the tokens
TAUS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
PROMPTS_ALL = HERE / "prompts_all.txt"  # every digit in every domain
PROMPTS_CLUSTER = HERE / "prompts_cluster.txt"  # every digit in cluster CLUSTER's domain


@dataclass(frozen=True)
class Scale:
    expert_steps: int
    batch_size: int
    router_steps: int
    per_prompt: int  # samples per prompt and sampling seed, routed ensembles (80 prompts)
    per_cluster_prompt: int  # samples per prompt and sampling seed, single-cluster rows (10 prompts)
    steps: int  # Euler steps (Heun: the same number of steps, twice the evaluations)
    expert_minutes: float  # measured single-core minutes of one expert here, for the start order


SCALES = {
    # this 2-core CPU: about 3 h for both seeds (measured: experiments/styled_experiments/README.md)
    "cpu": Scale(600, 32, 300, 2, 10, 25, 2.2),
    # one H100 in about an hour: the estimate and how it was made are in experiments/styled_experiments/README.md
    "gpu": Scale(4000, 128, 2000, 12, 50, 50, 1.0),
}


def expert_dir(name: str, seed: int) -> str:
    return f"{OUT}/experts/{name}_s{seed}"


def router_dir(name: str, seed: int) -> str:
    return f"{OUT}/routers/{name}_s{seed}"


def training_jobs(seed: int, scale: Scale) -> list[Job]:
    train = [
        PY,
        "-m",
        "hddm.train",
        "experiment=styled_demo_expert",
        f"data.batch_size={scale.batch_size}",
        f"seed={seed}",
    ]

    def job(name, *overrides, steps=scale.expert_steps, minutes=scale.expert_minutes):
        command = train + [f"trainer.max_steps={steps}", *overrides, f"hydra.run.dir={expert_dir(name, seed)}"]
        return Job(f"train/{name}_s{seed}", command, [], minutes)

    domains = ("partition=file", f"partition.num_clusters={K}")
    jobs = [job(f"fm_c{c}", "objective=fm", *domains, f"cluster={c}") for c in range(K)]
    jobs += [job(f"ddpm_c{c}", "objective=ddpm", *domains, f"cluster={c}") for c in DDPM_ORDER]
    jobs.append(job(f"fm_cosine_c{CLUSTER}", "objective=fm", "schedule=cosine", *domains, f"cluster={CLUSTER}"))
    digits = ("partition=mnist_digits", f"partition.num_clusters={K}")
    jobs += [job(f"digits_fm_c{c}", "objective=fm", *digits, f"cluster={c}") for c in range(K)]
    steps = K * scale.expert_steps
    monolithic = (
        "objective=fm",
        "partition=mnist_digits",
        "partition.num_clusters=1",
        "cluster=0",
        f"trainer.val_check_interval={steps // 4}",
        f"checkpoint.every_n_steps={steps // 8}",
    )
    jobs.append(job("monolithic", *monolithic, steps=steps, minutes=K * scale.expert_minutes))
    moe = (
        "model=tc_tiny_e16",
        f"model.num_experts={MOE_EXPERTS}",
        f"model.name=tc_tiny_e{MOE_EXPERTS}",
        f"optim.moe_balance={MOE_BALANCE}",
    )
    jobs.append(job("monolithic_moe", *monolithic, *moe, steps=steps, minutes=1.5 * K * scale.expert_minutes))
    router = [
        PY,
        "-m",
        "hddm.train_router",
        "data=styled_digits",
        f"trainer.max_steps={scale.router_steps}",
        f"trainer.val_check_interval={scale.router_steps}",
        "trainer.enable_progress_bar=false",
        "optim.lr=1e-3",
        "optim.lr_min=1e-5",
        f"seed={seed}",
    ]
    domains = ["partition=file", f"partition.num_clusters={K}"]
    for name, overrides in (
        ("domains", domains),
        ("domains_text", [*domains, "text_aware=true"]),
        ("digits", ["partition=mnist_digits", f"partition.num_clusters={K}"]),
    ):
        jobs.append(
            Job(
                f"train/router_{name}_s{seed}",
                router + overrides + [f"hydra.run.dir={router_dir(name, seed)}"],
                [],
                2.5,
            )
        )
    return jobs


def members(names: list[str], seed: int) -> tuple[list[str], str]:
    """(the training jobs, the ensemble.experts override) of the experts named."""
    return [f"train/{n}_s{seed}" for n in names], "ensemble.experts=[" + ",".join(
        f"{expert_dir(n, seed)}/expert" for n in names
    ) + "]"


def sample_command(scale: Scale, sampling_seed: int, prompts: Path, per_prompt: int) -> list[str]:
    count = len([line for line in prompts.read_text().splitlines() if line.strip()])
    return [
        PY,
        "-m",
        "hddm.sample",
        f"n={count * per_prompt}",
        f"steps={scale.steps}",
        "cfg_scale=3",
        f"prompts_file={prompts}",
        "grid_columns=10",
        f"seed={sampling_seed}",
    ]


def ensemble_jobs(seed: int, scale: Scale) -> list[Job]:
    fm8 = [f"fm_c{c}" for c in range(K)]
    rows = {  # row: (experts, router or None, overrides, single-core minutes)
        "monolithic": (["monolithic"], None, ["routing=top1"], 1.0),
        "monolithic_moe": (["monolithic_moe"], None, ["routing=top1"], 1.5),
        "top1": (fm8, "domains", ["routing=top1"], 1.5),
        "top2": (fm8, "domains", ["routing=top2"], 2.0),
        "full": (fm8, "domains", ["routing=full"], 6.0),
        "oracle": (fm8, None, ["routing=top1", "routing.router=oracle"], 1.5),
        "top2_text_router": (fm8, "domains_text", ["routing=top2"], 2.0),
        "digits_top2": ([f"digits_fm_c{c}" for c in range(K)], "digits", ["routing=top2"], 2.0),
    }
    for count in (1, 2, 4):
        ddpm = DDPM_ORDER[:count]
        names = [f"ddpm_c{c}" if c in ddpm else f"fm_c{c}" for c in range(K)]
        rows[f"ddpm{count}_top2"] = (names, "domains", ["routing=top2"], 2.0)
    jobs = []
    for row, (names, router, overrides, minutes) in rows.items():
        needs, experts = members(names, seed)
        routed = [f"ensemble.router={router_dir(router, seed)}/router"] if router else []
        needs += [f"train/router_{router}_s{seed}"] if router else []
        for r in SAMPLING_SEEDS:
            command = sample_command(scale, r, PROMPTS_ALL, scale.per_prompt) + [experts, *routed, *overrides]
            out = f"hydra.run.dir={OUT}/samples/s{seed}/{row}_r{r}"
            jobs.append(Job(f"sample/{row}_s{seed}_r{r}", command + [out], needs, minutes * scale.per_prompt / 2))
    return jobs


def cluster_jobs(seed: int, scale: Scale) -> list[Job]:
    """Threshold routing of two experts of one cluster (no router) and a lone DDPM expert's samplers."""
    fm, fm_cosine, ddpm = f"fm_c{CLUSTER}", f"fm_cosine_c{CLUSTER}", f"ddpm_c{CLUSTER}"
    taus = ",".join(str(t) for t in (0.0, *TAUS, 1.0))  # tau = 0: the first expert never runs; 1: it always does
    sweeps = {  # name: (experts, overrides): the FM expert first in ensemble.experts, routing.order picks who leads
        "same_schedule": ([fm_cosine, ddpm], ["routing.order=fm_first", f"routing.tau={taus}"]),
        "mixed_paper": ([fm, ddpm], ["routing.order=fm_first", f"routing.tau={taus}"]),
        "mixed_paper_scaled": (
            [fm, ddpm],
            ["routing.order=fm_first", f"routing.tau={taus}", "conversion.safeguards.adaptive_scaling=true"],
        ),
        "mixed_snr_matched": ([fm, ddpm], ["routing.order=fm_first", f"routing.tau={taus}", "conversion=snr_matched"]),
        "ddpm_first": ([fm, ddpm], ["routing.order=ddpm_first", "routing.tau=0.3,0.5,0.7"]),
    }
    lone = {  # name: overrides of one DDPM expert
        "ddim": ["solver=ddim"],
        "ancestral": ["solver=ancestral"],
        "euler": ["solver=euler", "routing=top1"],
        "heun": ["solver=heun", "routing=top1"],
    }
    jobs = []
    for r in SAMPLING_SEEDS:
        base = sample_command(scale, r, PROMPTS_CLUSTER, scale.per_cluster_prompt)
        for name, (names, overrides) in sweeps.items():
            needs, experts = members(names, seed)
            runs = next(o for o in overrides if o.startswith("routing.tau=")).count(",") + 1
            command = base[:3] + ["-m"] + base[3:] + [experts, "routing=threshold", *overrides]
            command += [f"hydra.sweep.dir={OUT}/samples/s{seed}/{name}_r{r}", "hydra.sweep.subdir=tau${routing.tau}"]
            jobs.append(Job(f"sample/{name}_s{seed}_r{r}", command, needs, 0.5 * runs * scale.per_cluster_prompt / 10))
        for name, overrides in lone.items():
            needs, experts = members([ddpm], seed)
            command = base + [experts, *overrides, f"hydra.run.dir={OUT}/samples/s{seed}/lone_{name}_r{r}"]
            jobs.append(Job(f"sample/lone_{name}_s{seed}_r{r}", command, needs, 0.5 * scale.per_cluster_prompt / 10))
    return jobs


ALIGNMENT = {  # analysis: overrides, sized as experiments/alignment/run.sh (about 25 single-core minutes in all)
    "cluster_rank": ["n=64", "analysis.feature_metric=euclidean", "analysis.partition_path={partition}"],
    "angular_deviation": ["n=32"],
    "refine": ["n=16", "batch_size=16"],
    "sensitivity": ["n=8", "batch_size=8", "analysis.jacobian_every=10", "analysis.power_iterations=4"],
    "disagreement": ["n=32"],
    "switching": ["n=32"],
    "rescue": [
        "n=8",
        "batch_size=8",
        "analysis.refine_steps=25",
        "analysis.clip_iterations=1",
        "analysis.temperatures=[0.25,4.0]",
        "analysis.top_ps=[0.8]",
    ],
}


def alignment_jobs(seed: int = 0) -> list[Job]:
    """Paper 002's expert-data alignment analyses on training seed 0's domain ensemble (8 FM experts, its router)."""
    needs, experts = members([f"fm_c{c}" for c in range(K)], seed)
    needs.append(f"train/router_domains_s{seed}")
    cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    common = [
        PY,
        "-m",
        "hddm.analyze",
        experts,
        f"ensemble.router={router_dir('domains', seed)}/router",
        f"prompts_file={PROMPTS_ALL}",
    ]
    partition = f"{cache}/partitions/styled_digits_kmeans{K}.safetensors"
    return [
        Job(
            f"alignment/{name}",
            common
            + [
                f"analysis={name}",
                *(o.format(partition=partition) for o in overrides),
                f"hydra.run.dir={OUT}/alignment/{name}",
            ],
            needs,
            4,
        )
        for name, overrides in ALIGNMENT.items()
    ]


def graph(scale: Scale, select) -> list[Job]:
    jobs = {job.name: job for job in alignment_jobs()}
    for seed in TRAINING_SEEDS:
        for job in training_jobs(seed, scale) + ensemble_jobs(seed, scale) + cluster_jobs(seed, scale):
            jobs[job.name] = job
    return needed(jobs, select)


def write_prompts() -> None:
    from hddm.data.styled_digits import DOMAINS, domain_prompt

    PROMPTS_ALL.write_text("\n".join(domain_prompt(d, x.name) for x in DOMAINS for d in range(10)) + "\n")
    PROMPTS_CLUSTER.write_text("\n".join(domain_prompt(d, cluster_domain()) for d in range(10)) + "\n")


def cluster_domain() -> str:
    """The domain most of cluster CLUSTER's items are in."""
    from hddm.data.styled_digits import majority_domain

    cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))
    return majority_domain(cache, f"{cache}/partitions/styled_digits_kmeans{K}.safetensors", CLUSTER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--select", nargs="+", default=["*"], metavar="PATTERN", help="jobs matching (and their needs)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="print the jobs and what each needs, run nothing")
    args = parser.parse_args()
    os.chdir(ROOT)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="offline", OMP_NUM_THREADS="1")
    prepare = [PY, "-m", "hddm.prepare", "data=styled_digits", f"cluster.k={K}", "cluster.fine_k=64"]
    if not args.list:
        subprocess.run(prepare + [f"hydra.run.dir={OUT}/clusters"], check=True)
        write_prompts()
    jobs = graph(SCALES[args.scale], args.select)
    if args.list:
        print(describe(jobs, args.jobs))
        return
    sys.exit(0 if run(jobs, args.jobs, ROOT / OUT / "logs") else 1)


if __name__ == "__main__":
    main()
