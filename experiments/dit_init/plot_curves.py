"""Validation-loss curves of the dit_init runs: converted-DiT init vs scratch, per objective.

    python experiments/dit_init/plot_curves.py   # reads experiments/dit_init/work/, writes into experiments/dit_init/

Reads work/runs/<objective>_<arm>/logs/version_*/metrics.csv (all versions merged, so a resumed run is one curve)
for the arms init (DiT pretrained on all digits), scratch and, when present, init_nodigit (the ablation: DiT
pretrained without the expert's digit), and the step-0 points from work/step0_<objective>[_nodigit].json
(step0_val.py). Lightning's CSVLogger writes the validation row of "after n optimizer steps" with step = n - 1;
this script reports n. Writes val_loss.png, results.json and results.md (a markdown table).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
KEYS = ["val/loss", "val/loss_t0", "val/loss_t1", "val/loss_t2", "val/loss_t3"]
BIN_LABELS = {
    "val/loss_t0": "t in [0, .25)",
    "val/loss_t1": "t in [.25, .5)",
    "val/loss_t2": "t in [.5, .75)",
    "val/loss_t3": "t in [.75, 1]",
}
# arm -> (step-0 file suffix, key in that file, label, colour)
ARMS = {
    "init": ("", "init", "init: converted DiT (pretrained on all digits)", "tab:blue"),
    "scratch": ("", "scratch", "from scratch", "tab:orange"),
    "init_nodigit": ("_nodigit", "init", "init: converted DiT pretrained without digit 3 (ablation)", "tab:green"),
}
ROW_NAMES = {"init": "converted DiT (all digits)", "scratch": "scratch", "init_nodigit": "converted DiT (no digit 3)"}


def read_curve(run_dir: Path) -> dict[int, dict[str, float]]:
    """{steps done: {metric: value}} over every logs/version_*/metrics.csv of the run (later versions win)."""
    curve: dict[int, dict[str, float]] = {}
    files = sorted(run_dir.glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    for path in files:
        with open(path) as handle:
            for row in csv.DictReader(handle):
                if row.get("val/loss"):
                    curve[int(row["step"]) + 1] = {k: float(row[k]) for k in KEYS if row.get(k)}
    return dict(sorted(curve.items()))


def first_step_reaching(curve: dict[int, dict], target: float) -> int | None:
    return next((step for step, m in curve.items() if step > 0 and m["val/loss"] <= target), None)


def interpolated_step_reaching(curve: dict[int, dict], target: float) -> float | None:
    """Linear interpolation between the two evaluations around the first crossing (finer, still rough)."""
    points = [(s, m["val/loss"]) for s, m in curve.items()]
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v1 <= target:
            return float(s1) if v0 <= target or v0 == v1 else s0 + (v0 - target) / (v0 - v1) * (s1 - s0)
    return None


def as_int_keys(curve: dict) -> dict[int, dict]:
    return {int(s): m for s, m in curve.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default=str(HERE / "work"))
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--objectives", nargs="+", default=["ddpm", "fm"])
    parser.add_argument("--table-steps", nargs="+", type=int, default=[0, 50, 100, 200, 400, 800, 1200])
    parser.add_argument(
        "--reach-steps",
        nargs="+",
        type=int,
        default=[400],
        help="scratch steps whose val loss the init runs must reach (the scratch run's last step is added)",
    )
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)

    results: dict = {"objectives": {}}
    for objective in args.objectives:
        entry: dict = {}
        for arm, (suffix, key, _, _) in ARMS.items():
            run = work / "runs" / f"{objective}_{arm}"
            curve = read_curve(run)
            if not curve:
                continue
            step0_path = work / f"step0_{objective}{suffix}.json"
            step0 = json.loads(step0_path.read_text()) if step0_path.is_file() else {}
            if key in step0:
                curve = {0: step0[key], **curve}
            if arm == "init" and "source_dit_class_conditional" in step0:
                entry["source_dit_step0"] = {
                    k: step0[k] for k in ("source_dit_class_conditional", "source_dit_null_class")
                }
            result = json.loads((run / "result.json").read_text()) if (run / "result.json").is_file() else {}
            entry[arm] = {
                "curve": {str(s): m for s, m in curve.items()},
                "fit_seconds": result.get("fit_seconds"),
                "steps": result.get("steps"),
            }
        if "scratch" in entry:
            scratch = as_int_keys(entry["scratch"]["curve"])
            final_step = max(scratch)
            for arm in (a for a in ARMS if a != "scratch" and a in entry):
                init = as_int_keys(entry[arm]["curve"])
                reach = {}
                for ref in sorted({s for s in args.reach_steps if s in scratch} | {final_step}):
                    target = scratch[ref]["val/loss"]
                    reached, interp = first_step_reaching(init, target), interpolated_step_reaching(init, target)
                    reach[str(ref)] = {
                        "scratch_val_loss": target,
                        "init_steps": reached,
                        "init_steps_interpolated": None if interp is None else round(interp, 1),
                        "speedup": None if not reached else round(ref / reached, 2),
                        "speedup_interpolated": None if not interp else round(ref / interp, 2),
                    }
                entry[arm]["final_val_loss_ratio_to_scratch"] = round(
                    init[max(init)]["val/loss"] / scratch[final_step]["val/loss"], 3
                )
                entry[arm]["steps_to_reach_scratch_at"] = reach
        results["objectives"][objective] = entry
    objectives = [o for o in args.objectives if {"init", "scratch"} <= results["objectives"][o].keys()]

    # ---- figure: top row val/loss vs step; bottom row the per-t-bin losses (init solid, scratch dashed)
    fig, axes = plt.subplots(2, len(objectives), figsize=(6.5 * len(objectives), 9), squeeze=False)
    for col, objective in enumerate(objectives):
        entry = results["objectives"][objective]
        ax = axes[0, col]
        for arm, (_, _, label, color) in ARMS.items():
            if arm in entry:
                curve = as_int_keys(entry[arm]["curve"])
                ax.plot(list(curve), [m["val/loss"] for m in curve.values()], "o-", color=color, label=label, ms=3)
        scratch = as_int_keys(entry["scratch"]["curve"])
        for ref in sorted({s for s in args.reach_steps if s in scratch} | {max(scratch)}):
            ax.axhline(scratch[ref]["val/loss"], color="tab:orange", lw=0.8, ls=":")
            ax.annotate(
                f"scratch @ {ref}",
                (max(scratch), scratch[ref]["val/loss"]),
                fontsize=7,
                color="tab:orange",
                ha="right",
                va="bottom",
            )
        if "source_dit_step0" in entry:
            ax.axhline(
                entry["source_dit_step0"]["source_dit_class_conditional"]["val/loss"],
                color="gray",
                lw=0.8,
                ls="--",
                label="the source DiT itself (epsilon channels, class-cond.)",
            )
        lows = [m["val/loss"] for arm in ARMS if arm in entry for s, m in entry[arm]["curve"].items() if int(s) >= 50]
        top = max(lows) * 1.1
        ax.set_ylim(min(lows) * 0.9, top)
        off = [
            f"{ROW_NAMES[a]} {entry[a]['curve']['0']['val/loss']:.3f}"
            for a in ARMS
            if a in entry and "0" in entry[a]["curve"] and entry[a]["curve"]["0"]["val/loss"] > top
        ]
        if off:
            ax.text(
                0.99,
                0.62,
                "step 0 off the chart:\n" + "\n".join(off),
                transform=ax.transAxes,
                fontsize=7,
                ha="right",
                va="top",
            )
        ax.set_title(f"objective={objective}: tiny expert on cluster 3 (digit 3)")
        ax.set_xlabel("expert training steps")
        ax.set_ylabel("val loss (EMA weights, 512 held-out digit-3 images)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        for k, color in zip(KEYS[1:], ("tab:green", "tab:red", "tab:purple", "tab:brown")):
            for arm, style in (("init", "-"), ("scratch", "--")):
                curve = {s: m for s, m in as_int_keys(entry[arm]["curve"]).items() if s >= 50}
                ax.plot(
                    list(curve),
                    [m.get(k, float("nan")) for m in curve.values()],
                    style,
                    color=color,
                    label=f"{BIN_LABELS[k]} ({arm})",
                )
        ax.set_yscale("log")
        ax.set_title(f"objective={objective}: val loss per t bin (solid init, dashed scratch)", fontsize=10)
        ax.set_xlabel("expert training steps")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(
        "hddm tiny expert on MNIST (1x28x28): init from a converted small DiT vs scratch (same seed, data "
        "order, noise)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out / "val_loss.png", dpi=110)

    # ---- samples: the runs' own samples.png (EMA weights, Euler 50 steps, CFG 3, hddm.train's sample_grid)
    grids = [
        (o, a)
        for o in objectives
        for a in ARMS
        if a in results["objectives"][o] and (work / "runs" / f"{o}_{a}" / "samples.png").is_file()
    ]
    if grids:
        fig, axes = plt.subplots(
            len(objectives), len(ARMS), figsize=(4.2 * len(ARMS), 2.6 * len(objectives)), squeeze=False
        )
        for ax in axes.flat:
            ax.axis("off")
        for objective, arm in grids:
            ax = axes[objectives.index(objective), list(ARMS).index(arm)]
            ax.imshow(plt.imread(work / "runs" / f"{objective}_{arm}" / "samples.png"), interpolation="nearest")
            steps = results["objectives"][objective][arm]["steps"]
            ax.set_title(f"{objective}: {ROW_NAMES[arm]}, {steps} steps", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "samples.png", dpi=110)

    # ---- table
    columns = [
        s
        for s in args.table_steps
        if any(
            str(s) in results["objectives"][o][a]["curve"]
            for o in objectives
            for a in ARMS
            if a in results["objectives"][o]
        )
    ]
    refs = sorted(
        {
            int(r)
            for o in objectives
            for a in ARMS
            if a in results["objectives"][o]
            for r in results["objectives"][o][a].get("steps_to_reach_scratch_at", {})
        }
    )
    lines = [
        "| objective | start | "
        + " | ".join(f"step {s}" for s in columns)
        + " | "
        + " | ".join(f"steps to reach scratch@{r} (speed-up)" for r in refs)
        + " | fit s |",
        "|---|---|" + "---|" * (len(columns) + len(refs)) + "---|",
    ]
    for objective in objectives:
        entry = results["objectives"][objective]
        for arm in (a for a in ARMS if a in entry):
            curve = as_int_keys(entry[arm]["curve"])
            cells = [f"{curve[s]['val/loss']:.4f}" if s in curve else "-" for s in columns]
            extra = []
            for r in refs:
                hit = entry[arm].get("steps_to_reach_scratch_at", {}).get(str(r))
                if arm == "scratch":
                    extra.append(f"{r} (1x)")
                elif hit is None:
                    extra.append("-")
                elif hit["init_steps"] is None:
                    extra.append("not reached")
                else:
                    extra.append(
                        f"{hit['init_steps']} ({hit['speedup']}x); interp. {hit['init_steps_interpolated']} "
                        f"({hit['speedup_interpolated']}x)"
                    )
            lines.append(
                f"| {objective} | {ROW_NAMES[arm]} | "
                + " | ".join(cells)
                + f" | {' | '.join(extra)} | {entry[arm]['fit_seconds']} |"
            )
    table = "\n".join(lines) + "\n"
    (out / "results.md").write_text(table)
    results["table_markdown"] = table
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
