"""Tables and plots of the K=8 experiments from runs/mnist_experiments/k8_s<SEED>/<run>/results.json:
experiment 1 (monolithic_vs_ensemble/run.sh), experiment 6 (ddpm_fm_ratio/run.sh) and experiment 2 (hetero_vs_homo:
two of experiment 6's runs).

For the experiment named (its folder under experiments/) and one SEED: copies each run's results.{json,md} and
grid.png into experiments/<source>/results_s<SEED>/<run>/ (a run not under runs/ keeps its earlier copy), writes experiments/<exp>/table_s<SEED>.md and
<exp>_s<SEED>.png, and pastes the table into its README between `<!-- table s<SEED> -->` markers. With `seeds`
instead of a seed: reads those kept results of seeds 0 and 1 and writes table_seeds.md (every row on both seeds,
the ranking per seed), pasted between `<!-- table seeds -->` markers. No number is typed in.
Usage: .venv/bin/python experiments/k8_tables.py monolithic_vs_ensemble|ddpm_fm_ratio|hetero_vs_homo [SEED|seeds]
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tables import HEADLINE, SEEDS, headline, keep_run, metric, paste_table, sampler_setting, seeds_table  # noqa: E402

EXPERIMENT, SEED = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "0"
RATIO = [
    ("fm8_top2", "0 DDPM (homogeneous)", "12.45 FID, 0.617 LPIPS"),
    ("ddpm_2", "1 DDPM: {2}", ""),
    ("ddpm_2_6", "2 DDPM: {2, 6}", "11.88 FID, 0.631 LPIPS"),
    ("ddpm_2_6_4_5", "4 DDPM: {2, 6, 4, 5}", ""),
]
EXPERIMENTS = {  # folder: (folder that keeps the runs' results, [(run, row label, paper's number)])
    "monolithic_vs_ensemble": (
        "monolithic_vs_ensemble",
        [
            ("monolithic", "monolithic FM, all data, 6400 steps", "29.64 FID"),
            ("fm8_top1", "8 FM experts, Top-1", "30.60 FID"),
            ("fm8_top2", "8 FM experts, Top-2", "22.60 FID"),
            ("fm8_full", "8 FM experts, full ensemble", "47.89 FID"),
            ("fm8_top2_text_router", "8 FM experts, Top-2, text-aware router (not the paper's)", ""),
        ],
    ),
    "ddpm_fm_ratio": ("ddpm_fm_ratio", RATIO),
    "hetero_vs_homo": ("ddpm_fm_ratio", [RATIO[0], RATIO[2]]),
}


def ddpm_share(results):
    shares = (results.get("usage_rank0") or {}).get("share_of_steps", {})
    return ", ".join(f"{k} {v:.3f}" for k, v in shares.items() if k.endswith("ddpm")) or "–"


def row_of(results, label, paper):
    return {
        **headline(results),
        "label": label,
        "paper": paper,
        "spread": metric(results, "diversity")[1],
        "n": results["samples"]["n"],
        "evaluations": (results.get("usage_rank0") or {}).get("expert_evaluations"),
        "ddpm": ddpm_share(results),
        "seconds": results["seconds"],
    }


def same_weights(results, weights):
    """Rows of one table must share their experts' and router's weights (a re-run on another build would not):
    weights is {path: sha256} of the rows so far."""
    for member in results["experts"] + [results["router"] or {}]:
        if (
            "path" in member
            and weights.setdefault(member["path"], member["weights_sha256"]) != member["weights_sha256"]
        ):
            sys.exit(
                f"{member['path']} has other weights in {results['grid']}'s run than in an earlier row: "
                "re-run every row of this table on one build"
            )


def table_of(source, runs, seed):
    """Rows of the runs under RUNS (kept under experiments/ first), or of their kept results when not re-run here."""
    kept, rows, weights, kept_results = Path("experiments") / source / f"results_s{seed}", [], {}, []
    for name, label, paper in runs:
        if (RUNS / name / "results.json").is_file():
            keep_run(RUNS / name, kept / name)
        if (kept / name / "results.json").is_file():
            results = json.loads((kept / name / "results.json").read_text())
            same_weights(results, weights)
            rows.append(row_of(results, label, paper))
            kept_results.append(results)
    text = (
        "| ensemble | paper | domain FID (mnist-cnn) ↓ | prompt adherence ↑ | diversity dssim_standin ↑ (mean ± std over prompts) "
        "| DDPM share of steps | n | expert evaluations | s |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    text += "".join(
        f"| {r['label']} | {r['paper']} | {r['fid']:.1f} | {r['adherence']:.3f} | {r['diversity']:.4f} ± {r['spread']:.3f} "
        f"| {r['ddpm']} | {r['n']} | {r['evaluations']} | {r['seconds']:.0f} |\n"
        for r in rows
    )
    text += (
        f"\nTraining seed {seed}, sampling seed 0, {sampler_setting(kept_results, 'solver').capitalize()} "
        f"{sampler_setting(kept_results, 'steps')}, CFG {sampler_setting(kept_results, 'cfg_scale')}, router kmeans8 (seed 0); "
        f"{source}/results_s{seed}/<run>/results.json holds every setting and hash.\n"
    )
    return rows, text


def kept_rows(source, runs, seed):
    """{run: row} of the results kept under experiments/<source>/results_s<seed>/."""
    kept = Path("experiments") / source / f"results_s{seed}"
    return {
        name: row_of(json.loads((kept / name / "results.json").read_text()), label, paper)
        for name, label, paper in runs
        if (kept / name / "results.json").is_file()
    }


def plot(rows, path, title):
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for axis, key, name in zip(
        axes,
        ("fid", "adherence", "diversity"),
        ("domain FID (mnist-cnn) ↓", "prompt adherence ↑", "diversity dssim_standin ↑"),
    ):
        axis.bar(range(len(rows)), [row[key] for row in rows])
        axis.set_xticks(range(len(rows)), [row["label"] for row in rows], rotation=25, ha="right", fontsize=7)
        axis.set_title(name)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


here = Path("experiments") / EXPERIMENT
source, runs = EXPERIMENTS[EXPERIMENT]
if SEED == "seeds":
    table = seeds_table({seed: kept_rows(source, runs, seed) for seed in SEEDS}, HEADLINE)
    table += (
        f"\nRows: {', '.join(f'{name} = {label}' for name, label, _ in runs)}. n per row as in the per-seed "
        "tables; domain FID is mnist-cnn, diversity dssim_standin.\n"
    )
    (here / "table_seeds.md").write_text(table)
    paste_table(here / "README.md", "seeds", table)
    print(here / "table_seeds.md")
    sys.exit()
RUNS = Path(f"runs/mnist_experiments/k8_s{SEED}")
rows, table = table_of(source, runs, SEED)
if not rows:
    sys.exit(f"no results under {RUNS}: run experiments/{source}/run.sh first")
(here / f"table_s{SEED}.md").write_text(table)
plot(rows, here / f"{EXPERIMENT}_s{SEED}.png", f"{EXPERIMENT.replace('_', ' ')}, training seed {SEED}")
paste_table(here / "README.md", f"s{SEED}", table)
print(here / f"table_s{SEED}.md")
