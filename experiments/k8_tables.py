"""Tables and plots of the K=8 experiments from runs/issue6/k8_s<SEED>/<run>/results.json:
experiment 1 (monolithic_vs_ensemble/run.sh) and experiments 2 and 6 (ddpm_fm_ratio/run.sh).

For the experiment named (its folder under experiments/), with runs: copies results.{json,md} and grid.png into experiments/<exp>/results_s<SEED>/<run>/,
writes experiments/<exp>/table_s<SEED>.md and <exp>_s<SEED>.png, and pastes the table into its README between
`<!-- table s<SEED> -->` markers. No number is typed in.
Usage: .venv/bin/python experiments/k8_tables.py monolithic_vs_ensemble|ddpm_fm_ratio [SEED]
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tables import keep_run, metric, paste_table  # noqa: E402

EXPERIMENT, SEED = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "0"
RUNS = Path(f"runs/issue6/k8_s{SEED}")
EXPERIMENTS = {  # folder: [(run, row label, paper's number)]
    "monolithic_vs_ensemble": [("monolithic", "monolithic FM, all data, 6400 steps", "29.64 FID"),
                               ("fm8_top1", "8 FM experts, Top-1", "30.60 FID"), ("fm8_top2", "8 FM experts, Top-2", "22.60 FID"),
                               ("fm8_full", "8 FM experts, full ensemble", "47.89 FID"),
                               ("fm8_top2_text_router", "8 FM experts, Top-2, text-aware router (not the paper's)", "")],
    "ddpm_fm_ratio": [("fm8_top2", "0 DDPM (homogeneous)", "12.45 FID, 0.617 LPIPS"), ("ddpm_2", "1 DDPM: {2}", ""),
                      ("ddpm_2_6", "2 DDPM: {2, 6}", "11.88 FID, 0.631 LPIPS"), ("ddpm_2_6_4_5", "4 DDPM: {2, 6, 4, 5}", "")],
}


def ddpm_share(results):
    shares = (results.get("usage_rank0") or {}).get("share_of_steps", {})
    return ", ".join(f"{k} {v:.3f}" for k, v in shares.items() if k.endswith("ddpm")) or "–"


def table_of(folder, runs):
    rows = []
    for name, label, paper in runs:
        if not (RUNS / name / "results.json").is_file():
            continue
        results = json.loads((RUNS / name / "results.json").read_text())
        keep_run(RUNS / name, Path("experiments") / folder / f"results_s{SEED}" / name)
        diversity, spread = metric(results, "diversity")
        rows.append({"label": label, "paper": paper, "fid": metric(results, "domain_fid")[0], "diversity": diversity,
                     "adherence": metric(results, "prompt_adherence")[0], "spread": spread, "n": results["samples"]["n"],
                     "evaluations": (results.get("usage_rank0") or {}).get("expert_evaluations"),
                     "ddpm": ddpm_share(results), "seconds": results["seconds"]})
    text = ("| ensemble | paper | domain FID (mnist-cnn) ↓ | prompt adherence ↑ | diversity dssim_standin ↑ (mean ± std over prompts) "
            "| DDPM share of steps | n | expert evaluations | s |\n|---|---|---|---|---|---|---|---|---|\n")
    text += "".join(f"| {r['label']} | {r['paper']} | {r['fid']:.1f} | {r['adherence']:.3f} | {r['diversity']:.4f} ± {r['spread']:.3f} "
                    f"| {r['ddpm']} | {r['n']} | {r['evaluations']} | {r['seconds']:.0f} |\n" for r in rows)
    text += (f"\nTraining seed {SEED}, sampling seed 0, Euler 50, CFG 3, router kmeans8 (seed 0); "
             f"results_s{SEED}/<run>/results.json holds every setting and hash.\n")
    return rows, text


def plot(rows, path, title):
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for axis, key, name in zip(axes, ("fid", "adherence", "diversity"),
                               ("domain FID (mnist-cnn) ↓", "prompt adherence ↑", "diversity dssim_standin ↑")):
        axis.bar(range(len(rows)), [row[key] for row in rows])
        axis.set_xticks(range(len(rows)), [row["label"] for row in rows], rotation=25, ha="right", fontsize=7)
        axis.set_title(name)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


rows, table = table_of(EXPERIMENT, EXPERIMENTS[EXPERIMENT])
if not rows:
    sys.exit(f"no results under {RUNS}: run experiments/{EXPERIMENT}/run.sh first")
here = Path("experiments") / EXPERIMENT
(here / f"table_s{SEED}.md").write_text(table)
plot(rows, here / f"{EXPERIMENT}_s{SEED}.png", f"{EXPERIMENT.replace('_', ' ')}, training seed {SEED}")
paste_table(here / "README.md", SEED, table)
print(here / f"table_s{SEED}.md")
