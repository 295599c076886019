"""Tables of experiments 3, 4, 5 (single cluster) from the run folders of experiments/threshold_sweep/run.sh.

Reads runs/mnist_experiments/threshold_s<SEED>/<sweep>/*/results.json (sweeps: fm_first, ddpm_first, snr_matched, same_schedule,
native_ddim; sampling_seeds: two fm_first rows on more sampling seeds, their spread by chance), copies them (small
JSON, grids) into experiments/<exp>/results_s<SEED>/, writes experiments/<exp>/table_s<SEED>.md, pastes it into the README between `<!-- table s<SEED> -->` markers, and plots
experiment 3. With `seeds` instead of a seed: reads those kept results of seeds 0 and 1 and writes each experiment's
table_seeds.md (the rows both seeds have, and their ranking per seed), pasted between `<!-- table seeds -->` markers.
No number is typed in. Usage: .venv/bin/python experiments/threshold_sweep/make_tables.py [SEED|seeds]
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/tables.py
from tables import HEADLINE, SEEDS, headline, keep_run, metric, paste_table, sampler_setting, seeds_table  # noqa: E402

SEED = sys.argv[1] if len(sys.argv) > 1 else "0"
EXPERIMENTS = ("threshold_sweep", "ordering", "conversion")
ROOT = Path(f"runs/mnist_experiments/threshold_s{SEED}")
HEAD = (
    "| row | sampler | order | tau | conversion | DDPM schedule | domain FID (mnist-cnn, vs threes) ↓ | prompt adherence ↑ "
    "| diversity dssim_standin ↑ (mean ± std over prompts) | n | diversity images | s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def runs(sweep):
    return [
        (sweep, path.parent.name, json.loads(path.read_text()))
        for path in sorted((ROOT / sweep).glob("*/results.json"))
    ]


def native(results):
    return results["sampler"]["solver"] == "ddim"


def ddpm_schedule(results):
    return next((e["schedule"] for e in results["experts"] if e["objective"] == "ddpm"), "–")


def label(sweep, results):
    tau = results["routing"]["tau"]
    if native(results):
        return f"DDPM expert ({ddpm_schedule(results)}), native DDIM"
    who = "DDPM (linear schedule, same as FM)" if sweep == "same_schedule" else "DDPM (cosine)"
    return {0.0: "FM expert alone", 1.0: f"{who} alone, converted to velocity"}.get(tau, f"FM + {who}, threshold")


def line(sweep, results):
    fmt = lambda v, spec=".4g": "n/a" if v is None else format(v, spec)  # noqa: E731
    diversity, spread = metric(results, "diversity")
    routing, sampler = results["routing"], results["sampler"]
    order, tau = ("–", "–") if native(results) else (routing["order"], routing["tau"])
    conversion = "none" if native(results) else sampler["conversion"]["mode"]
    return (
        f"| {label(sweep, results)} | {sampler['solver']} | {order} | {tau} | {conversion} | {ddpm_schedule(results)} "
        f"| {fmt(metric(results, 'domain_fid')[0], '.1f')} | {fmt(metric(results, 'prompt_adherence')[0], '.3f')} "
        f"| {fmt(diversity)} ± {fmt(spread, '.3f')} | {results['samples']['n']} | {results['samples']['diversity']} "
        f"| {results['seconds']:.0f} |\n"
    )


def sampling_spread(fm_first, repeats):
    """A line per tau of the repeats: domain FID on sampling seed 0 (the sweep's row) and on the repeats' seeds."""
    text = ""
    for tau in sorted({r[2]["routing"]["tau"] for r in repeats}):
        same_route = [r for _, _, r in fm_first + repeats if r["routing"]["tau"] == tau]
        values = [metric(r, "domain_fid")[0] for r in same_route]
        text += (
            f"\nSampling-seed spread, tau = {tau}: domain FID {', '.join(f'{v:.1f}' for v in values)} on sampling "
            f"seeds {', '.join(str(r['seeds']['sampling']) for r in same_route)}: mean {statistics.mean(values):.1f}, "
            f"std {statistics.stdev(values):.1f}.\n"
        )
    return text


def write(experiment, rows, extra_runs=(), note=""):
    here = Path("experiments") / experiment
    for sweep, name, _ in list(rows) + list(extra_runs):
        keep_run(ROOT / sweep / name, here / f"results_s{SEED}" / f"{sweep}__{name}")
    table = HEAD + "".join(line(sweep, results) for sweep, _, results in rows)
    experts = sorted({f"{e['path']} ({e['objective']}, {e['schedule']})" for _, _, r in rows for e in r["experts"]})
    results = [r for _, _, r in rows]
    table += (
        f'\nTraining seed {SEED}, sampling seed 0, prompt "a handwritten digit three", '
        f"{sampler_setting(results, 'steps')} steps, CFG {sampler_setting(results, 'cfg_scale')}. "
        f"Experts: {'; '.join(experts)}.\n"
    ) + note
    (here / f"table_s{SEED}.md").write_text(table)
    paste_table(here / "README.md", f"s{SEED}", table)
    print(here / f"table_s{SEED}.md")


def kept_rows(experiment, seed):
    """{run: metrics} of the results kept under experiments/<experiment>/results_s<seed>/<sweep>__<run>/."""
    paths = [
        path
        for path in sorted((Path("experiments") / experiment / f"results_s{seed}").glob("*/results.json"))
        if not path.parent.name.startswith("sampling_seeds__")
    ]  # repeats of rows, not rows
    # named by run, and by sweep too outside fm_first: same_schedule's tau = 0.5 run is not fm_first's
    return {path.parent.name.removeprefix("fm_first__"): headline(json.loads(path.read_text())) for path in paths}


if SEED == "seeds":
    for experiment in EXPERIMENTS:
        table = seeds_table({seed: kept_rows(experiment, seed) for seed in SEEDS}, HEADLINE)
        table += "\nRows: the runs of results_s<seed>/ that both seeds have; n = 100 each, domain FID vs the threes.\n"
        (Path("experiments") / experiment / "table_seeds.md").write_text(table)
        paste_table(Path("experiments") / experiment / "README.md", "seeds", table)
        print(Path("experiments") / experiment / "table_seeds.md")
    sys.exit()

fm_first = sorted(runs("fm_first"), key=lambda row: row[2]["routing"]["tau"])
repeats = runs("sampling_seeds")
write("threshold_sweep", fm_first, repeats, sampling_spread(fm_first, repeats) if repeats else "")
write(
    "ordering",
    sorted(
        [r for r in fm_first if r[2]["routing"]["tau"] in (0.3, 0.5, 0.7)] + runs("ddpm_first"),
        key=lambda row: (row[2]["routing"]["order"], row[2]["routing"]["tau"]),
    ),
)
write(
    "conversion",
    [r for r in fm_first if r[2]["routing"]["tau"] in (0.0, 0.5, 1.0)]
    + runs("snr_matched")
    + runs("same_schedule")
    + runs("native_ddim"),
)

figure, axes = plt.subplots(1, 3, figsize=(12, 3.2))
taus = [results["routing"]["tau"] for _, _, results in fm_first]
for axis, prefix, title in zip(
    axes,
    ("domain_fid", "prompt_adherence", "diversity"),
    ("domain FID (mnist-cnn, vs threes) ↓", "prompt adherence ↑", "diversity dssim_standin ↑"),
):
    axis.plot(taus, [metric(results, prefix)[0] for _, _, results in fm_first], "o-")
    axis.set_xlabel("tau (FM for t > tau, DDPM below)")
    axis.set_title(title)
figure.suptitle(f"threshold sweep, cluster 2 (digit 3), training seed {SEED}")
figure.tight_layout()
figure.savefig(f"experiments/threshold_sweep/tau_sweep_s{SEED}.png", dpi=100)
