"""The papers' six experiments on MNIST (K=8 digit clusters, the adverse control) as one dependency graph of
single-core jobs, run JOBS at a time (default 2).

A job starts as soon as what it needs has finished (an evaluation waits only for its own experts and router), the
longest first, so both cores stay busy from the first training to the last table. Each job is one hddm command:
it resumes from its checkpoints or skips itself when its run folder says done (hddm.jobs), so re-running after an
interruption redoes only what is missing. A failing job is reported at once with its log; what needs it is skipped,
the rest goes on; the exit code is 1 if anything failed. Logs: runs/mnist_experiments/logs/<job>.log.

  experts (per training SEED)   8 FM on the K=8 clusters; DDPM-eps (cosine) on 2, 6, 4, 5; DDPM-eps (linear) on 2;
                                the monolithic FM model on all of MNIST (8 x 800 = 6400 steps); routers: seed 0 only
  exp1  monolithic_vs_ensemble  monolithic vs 8 FM experts, Top-1 / Top-2 (n=N) / full (n=NFULL), text-aware router
  exp26 ddpm_fm_ratio           0 / 1 / 2 / 4 DDPM experts, Top-2 (experiment 2 is two of its rows: hetero_vs_homo)
  exp35 threshold_sweep         cluster 2 only: tau sweep (exp 3), ordering (exp 4), conversion (exp 5)

Usage: .venv/bin/python experiments/mnist_experiments.py [--seeds 0 1] [--only exp1 exp26 exp35]
       [--select PATTERN ...] [--jobs 2] [--list]    (N, NFULL, NTHRESHOLD environment variables change the sample counts)
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from job_pool import Job, describe, needed, run  # noqa: E402

PY = os.environ.get("PY", ".venv/bin/python")
N, NFULL, NTHRESHOLD = (int(os.environ.get(k, v)) for k, v in (("N", 300), ("NFULL", 150), ("NTHRESHOLD", 100)))
STEPS = "steps=25"  # Euler steps of every evaluation (the domain FID of FM and DDPM experts moved < 2 % from 50)
LOGS, EXPERTS = Path("runs/mnist_experiments/logs"), "runs/experts"
ROUTER = "runs/routers/router_kmeans8_tiny_text-{}_s0/router"  # training seed 0's routers serve both seeds
EVALUATE_K8 = [
    PY,
    "-m",
    "hddm.evaluate",
    "ensemble=mnist_k8",
    "metrics=[domain_fid,clip,diversity]",
    "metrics.domain_fid.reference_max_items=2000",
    "metrics.diversity.prompts=20",
    "metrics.diversity.images_per_prompt=10",
    STEPS,
    "cfg_scale=3",
    "trainer.enable_progress_bar=false",
]


def expert(seed, cluster, objective="fm", schedule="cosine"):
    name = f"{'ddpm_linear' if schedule == 'linear' else objective}_kmeans8_c{cluster}_tiny_s{seed}"
    return name, f"{EXPERTS}/{name}/expert"


def training_jobs(seed):
    train = [PY, "-m", "hddm.train", "experiment=mnist_k8", f"seed={seed}"]
    jobs = [
        Job(
            f"train/mono_s{seed}",
            train
            + [
                "objective=fm",
                "partition=mnist_digits",
                "partition.num_clusters=1",
                "cluster=0",
                "trainer.max_steps=6400",
                "trainer.val_check_interval=1600",
                "checkpoint.every_n_steps=800",
                f"hydra.run.dir={EXPERTS}/fm_monolithic_tiny_6400_s{seed}",
            ],
            minutes=31,
        )
    ]
    # run_name given: these folders predate run names that include the data
    jobs += [
        Job(f"train/{expert(seed, c)[0]}", train + ["objective=fm", f"cluster={c}", f"run_name={expert(seed, c)[0]}"])
        for c in range(8)
    ]
    jobs += [
        Job(f"train/{name}", train + ["objective=ddpm", f"cluster={c}", f"run_name={name}"])
        for c in (2, 6, 4, 5)
        for name in [expert(seed, c, "ddpm")[0]]
    ]
    name = expert(seed, 2, "ddpm", "linear")[0]
    jobs.append(Job(f"train/{name}", train + ["objective=ddpm", "schedule=linear", "cluster=2", f"run_name={name}"]))
    if seed == 0:
        router = [
            PY,
            "-m",
            "hddm.train_router",
            "partition=file",
            "partition.num_clusters=8",
            "trainer.max_steps=1000",
            "optim.lr=1e-3",
            "optim.lr_min=1e-5",
            "trainer.enable_progress_bar=false",
        ]
        jobs += [
            Job("train/router", router + [f"run_name={Path(ROUTER.format(False)).parent.name}"], minutes=8.5),
            Job(
                "train/router_text",
                router + ["text_aware=true", f"run_name={Path(ROUTER.format(True)).parent.name}"],
                minutes=8.5,
            ),
        ]
    return jobs


def k8_experts(seed, ddpm_clusters=()):
    """(job names, expert paths) of the K=8 ensemble with DDPM experts on the clusters given."""
    members = [expert(seed, c, "ddpm" if c in ddpm_clusters else "fm") for c in range(8)]
    return [f"train/{name}" for name, _ in members], "ensemble.experts=[" + ",".join(path for _, path in members) + "]"


def k8_evaluation(seed, run, experts, extra, minutes, text_router=False):
    names, members = experts
    return Job(
        f"k8/{run}_s{seed}",
        EVALUATE_K8
        + [
            members,
            f"ensemble.router={ROUTER.format(text_router)}",
            *extra,
            f"hydra.run.dir=runs/mnist_experiments/k8_s{seed}/{run}",
        ],
        names + [f"train/router{'_text' if text_router else ''}"],
        minutes,
    )


def exp1_jobs(seed):
    fm8 = k8_experts(seed)
    mono = ([f"train/mono_s{seed}"], f"ensemble.experts=[{EXPERTS}/fm_monolithic_tiny_6400_s{seed}/expert]")
    jobs = [
        k8_evaluation(seed, "fm8_full", fm8, ["routing=full", f"n={NFULL}"], 7.2 * NFULL / 150),
        k8_evaluation(seed, "fm8_top2", fm8, ["routing=top2", f"n={N}"], 4.4 * N / 500),
        k8_evaluation(seed, "fm8_top1", fm8, ["routing=top1", f"n={N}"], 2.6 * N / 500),
        k8_evaluation(seed, "monolithic", mono, ["routing=top1", f"n={N}"], 2.2 * N / 500),
        k8_evaluation(seed, "fm8_top2_text_router", fm8, ["routing=top2", f"n={N}"], 4.4 * N / 500, text_router=True),
    ]
    return jobs + [
        table_job(f"tables/exp1_s{seed}", ["experiments/k8_tables.py", "monolithic_vs_ensemble", str(seed)], jobs)
    ]


def exp26_jobs(seed):
    jobs = [k8_evaluation(seed, "fm8_top2", k8_experts(seed), ["routing=top2", f"n={N}"], 4.4 * N / 500)]  # = exp 1's
    for clusters in ((2,), (2, 6), (2, 6, 4, 5)):
        run = "ddpm_" + "_".join(map(str, clusters))
        jobs.append(k8_evaluation(seed, run, k8_experts(seed, clusters), ["routing=top2", f"n={N}"], 4.4 * N / 500))
    exp6 = table_job(f"tables/exp6_s{seed}", ["experiments/k8_tables.py", "ddpm_fm_ratio", str(seed)], jobs)
    # experiment 2's table reads the results exp 6's table keeps (experiments/ddpm_fm_ratio): after it, not beside it
    exp2 = table_job(f"tables/exp2_s{seed}", ["experiments/k8_tables.py", "hetero_vs_homo", str(seed)], jobs + [exp6])
    return jobs + [exp6, exp2]


def exp35_jobs(seed):
    """Cluster 2 (digit 3): threshold routing of one FM and one DDPM expert (no router; tau = 0 is FM alone, tau = 1
    the converted DDPM alone), each DDPM expert's native DDIM; domain FID against the MNIST-test threes."""
    (fm, fm_path), (ddpm, ddpm_path) = expert(seed, 2), expert(seed, 2, "ddpm")
    linear, linear_path = expert(seed, 2, "ddpm", "linear")
    out = f"runs/mnist_experiments/threshold_s{seed}"
    common = [
        PY,
        "-m",
        "hddm.evaluate",
        "ensemble=mnist_k8",
        "ensemble.router=null",
        "prompts=[a handwritten digit three]",
        f"n={NTHRESHOLD}",
        STEPS,
        "cfg_scale=3",
        "metrics=[domain_fid,clip,diversity]",
        "metrics.domain_fid.reference_labels=[3]",
        "metrics.diversity.prompts=5",
        "metrics.diversity.images_per_prompt=10",
        "trainer.enable_progress_bar=false",
    ]
    sweep = common[:3] + ["-m", *common[3:], "routing=threshold"]  # Hydra takes -m only before the overrides
    minutes = 0.45 * NTHRESHOLD / 100  # per evaluation
    subdir = "${routing.order}_tau${routing.tau}_${conversion.mode}"

    def sweep_job(name, members, taus, *extra, runs=1):
        return Job(
            f"threshold/{name}_s{seed}",
            sweep
            + [
                f"ensemble.experts=[{','.join(p for _, p in members)}]",
                f"routing.tau={taus}",
                *extra,
                f"hydra.sweep.dir={out}/{name}",
                f"hydra.sweep.subdir={subdir}" + ("_seed${seed}" if runs > 1 else ""),
            ],
            [f"train/{n}" for n, _ in members],
            minutes * runs * (taus.count(",") + 1),
        )

    def native(name, path):
        objective = name.removesuffix(f"_kmeans8_c2_tiny_s{seed}")
        return Job(
            f"threshold/native_ddim_{objective}_s{seed}",
            common
            + [
                f"ensemble.experts=[{path}]",
                "solver=ddim",
                "routing=top1",
                f"hydra.run.dir={out}/native_ddim/{objective}",
            ],
            [f"train/{name}"],
            minutes,
        )

    pair = [(fm, fm_path), (ddpm, ddpm_path)]
    jobs = [
        sweep_job("fm_first", pair, "0.0,0.2,0.3,0.4,0.5,0.6,0.7,1.0", "routing.order=fm_first"),
        sweep_job("ddpm_first", pair, "0.3,0.5,0.7", "routing.order=ddpm_first"),
        sweep_job("snr_matched", pair, "0.5,1.0", "routing.order=fm_first", "conversion=snr_matched"),
        sweep_job("same_schedule", [(fm, fm_path), (linear, linear_path)], "0.5,1.0", "routing.order=fm_first"),
        # how far two sets of the same route differ by chance: FM alone and tau = 0.4 on 3 more sampling seeds
        sweep_job("sampling_seeds", pair, "0.0,0.4", "routing.order=fm_first", "seed=1,2,3", runs=3),
        native(ddpm, ddpm_path),
        native(linear, linear_path),
    ]
    reports = [
        Job(f"threshold/report_{d}_s{seed}", [PY, "-m", "hddm.report", f"{out}/{d}"], [f"threshold/{d}_s{seed}"], 0.2)
        for d in ("fm_first", "ddpm_first", "snr_matched", "same_schedule", "sampling_seeds")
    ]
    reports.append(
        Job(
            f"threshold/report_native_ddim_s{seed}",
            [PY, "-m", "hddm.report", f"{out}/native_ddim"],
            [job.name for job in jobs if "native_ddim" in job.name],
            0.2,
        )
    )
    return (
        jobs
        + reports
        + [table_job(f"tables/exp35_s{seed}", ["experiments/threshold_sweep/make_tables.py", str(seed)], reports)]
    )


def table_job(name, script, jobs):
    return Job(name, [PY, *script], [job.name for job in jobs], 0.1)


EXPERIMENTS = {"exp1": exp1_jobs, "exp26": exp26_jobs, "exp35": exp35_jobs}
SEEDS_TABLES = {
    "exp1": [("exp1", ["experiments/k8_tables.py", "monolithic_vs_ensemble", "seeds"])],
    "exp26": [
        (f"exp{n}", ["experiments/k8_tables.py", exp, "seeds"])
        for n, exp in ((6, "ddpm_fm_ratio"), (2, "hetero_vs_homo"))
    ],
    "exp35": [("exp35", ["experiments/threshold_sweep/make_tables.py", "seeds"])],
}


def graph(seeds, only, select=("*",)):
    """The jobs the experiments named need (those matching a select pattern, and what they need), each once:
    experiments 1 and 2/6 share their Top-2 run."""
    jobs = {}
    for seed in seeds:
        for job in training_jobs(seed) + [job for exp in only for job in EXPERIMENTS[exp](seed)]:
            jobs.setdefault(job.name, job)
    if set(seeds) >= {0, 1}:
        for exp in only:
            for name, script in SEEDS_TABLES[exp]:
                per_seed = [jobs[f"tables/{name}_s{seed}"] for seed in seeds]
                jobs[f"tables/{name}_seeds"] = table_job(f"tables/{name}_seeds", script, per_seed)
    return needed(jobs, select)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=sorted(EXPERIMENTS))
    parser.add_argument(
        "--select",
        nargs="+",
        default=["*"],
        metavar="PATTERN",
        help="only the jobs whose names match (fnmatch, e.g. 'k8/fm8_full_*'), and what they need",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="print the jobs and what each needs, run nothing")
    args = parser.parse_args()
    jobs = graph(args.seeds, args.only, args.select)
    if args.list:
        print(describe(jobs, args.jobs))
        return
    os.environ.update(HF_HUB_OFFLINE="1", WANDB_MODE="offline", OMP_NUM_THREADS="1")
    cache = Path(os.environ.get("HDDM_CACHE", Path.home() / ".cache/hddm"))  # hddm's own default (hddm/config.py)
    if not (cache / "partitions/mnist_kmeans8.safetensors").is_file():
        subprocess.run(
            [PY, "-m", "hddm.prepare", "data=mnist", "cluster.k=8", "hydra.run.dir=runs/mnist_experiments/clusters_k8"],
            check=True,
        )
    sys.exit(0 if run(jobs, args.jobs, LOGS) else 1)


if __name__ == "__main__":
    main()
