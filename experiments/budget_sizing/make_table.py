"""Table of experiments/budget_sizing/run.sh: per expert (objective, batch), its training time and the domain FID of
its evaluations (sampler, steps, sampling seed), from runs/experts/<run>/result.json and runs/var_eval/<eval>/results.json.
Copies each evaluation's results.{json,md} and grid.png to experiments/budget_sizing/results/<eval>/ and pastes the table
into the README between `<!-- table sizing -->` markers. No number is typed in.
Usage: .venv/bin/python experiments/budget_sizing/make_table.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/tables.py
from tables import headline, keep_run, paste_table  # noqa: E402

HERE = Path("experiments/budget_sizing")
EXPERTS = {  # run: (objective, batch size, [evaluations])
    "base_fm_c2": ("FM", 64, ["base_fm_c2", "base_s1"]),
    "var_b32": ("FM", 32, ["var_b32_st50", "var_b32_s1", "var_b32_st25"]),
    "var_ddpm_b64": ("DDPM-eps", 64, ["ddpm64_s0", "ddpm64_s1"]),
    "var_ddpm_b32": (
        "DDPM-eps",
        32,
        ["var_ddpm_b32_st25", "ddpm32_s1", "var_ddpm_b32_st50", "var_ddpm_b32_ddim25", "var_ddpm_b32_ddim50"],
    ),
}

text = (
    "| expert (cluster 2, 800 steps) | batch | training s (one core) | sampler | steps | sampling seed "
    "| domain FID (mnist-cnn, vs threes) ↓ | prompt adherence ↑ | n |\n|---|---|---|---|---|---|---|---|---|\n"
)
for run, (objective, batch, evaluations) in EXPERTS.items():
    seconds = json.loads(Path(f"runs/experts/{run}/result.json").read_text())["fit_seconds"]
    for name in evaluations:
        keep_run(Path("runs/var_eval") / name, HERE / "results" / name)
        results = json.loads((HERE / "results" / name / "results.json").read_text())
        row, sampler = headline(results), results["sampler"]
        text += (
            f"| {objective} | {batch} | {seconds:.0f} | {sampler['solver']} | {sampler['steps']} | "
            f"{results['seeds']['sampling']} | {row['fid']:.1f} | {row['adherence']:.2f} | {results['samples']['n']} |\n"
        )
(HERE / "table.md").write_text(text)
paste_table(HERE / "README.md", "sizing", text)
print(HERE / "table.md")
