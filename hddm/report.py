"""Aggregate a sweep into a table and plots: `python -m hddm.report runs/eval/<sweep>`.

Every job folder of a Hydra sweep holds `.hydra/overrides.yaml` (what the job changed) and a result file
(evaluate: results.json; sample: record.json; train: result.json). The swept settings become the table's
columns on the left, every number under the result's "metrics" the columns on the right, for the jobs whose
status says done and whose recorded outputs still match (hddm/run_record.py); the others are listed with their
state and no numbers. A metric's recorded uncertainty (a sibling std / sem, or low / high bounds, e.g. diversity's
{"mean", "std"} or a bootstrap {"estimate", "low", "high"}) goes with it: "value ± std" or "value [low, high]"
in report.md, error bars in the plots. Writes report.md, report.csv and, per metric that varies across the jobs
(a constant, like the prompt count, is context, not a plot), a plot against each swept setting (a line per
combination of the others when the setting is numeric, grouped bars when it is not).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

from hddm.errors import HddmError
from hddm.io import write_text
from hddm.jobs import read_status
from hddm.reporting.plots import plot
from hddm.reporting.uncertainty import uncertainties
from hddm.run_record import changed_outputs

RESULT_FILES = ("results.json", "record.json", "result.json")


def flatten(tree: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested dicts as {"a.b.c": value}; lists and strings are not metrics."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def parse_value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def read_job(job_dir: Path) -> dict | None:
    """{"settings": {override: value}, "metrics": {...}, "state": ...} of one job folder, None if not a job."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        return None
    try:
        overrides = yaml.safe_load(overrides_file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        overrides = None
    if not isinstance(overrides, list | None):
        overrides = None
    if overrides is None and overrides_file.stat().st_size:
        return {"job": job_dir.name, "settings": {}, "metrics": {}, "uncertainty": {}, "state": "unreadable"}
    settings = {}
    for item in overrides or []:
        key, _, value = str(item).partition("=")
        if not key.startswith("hydra"):
            settings[key.lstrip("+~")] = parse_value(value)
    result_file = next((job_dir / name for name in RESULT_FILES if (job_dir / name).is_file()), None)
    try:
        metrics = flatten(json.loads(result_file.read_text()).get("metrics") or {}) if result_file else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        metrics, state = {}, "unreadable"
    else:
        state = job_state(job_dir, bool(metrics))
    metrics = metrics if state == "done" else {}
    return {
        "job": job_dir.name,
        "settings": settings,
        "metrics": metrics,
        "uncertainty": uncertainties(metrics),
        "state": state,
    }


def job_state(job_dir: Path, has_metrics: bool) -> str:
    """The status file's state; "stale" when a done job's recorded outputs no longer match (a re-run killed midway,
    a file replaced); folders from before status files: done when they hold metrics."""
    status = read_status(job_dir)
    if status is None:
        return "done" if has_metrics else "unknown"
    state = status.get("state", "unknown")
    return "stale" if state == "done" and changed_outputs(job_dir, status.get("outputs", {})) else state


def collect(sweep_dir: Path) -> list[dict]:
    if not sweep_dir.is_dir():
        raise HddmError(f"{sweep_dir} is not a folder: give the sweep folder a `-m` run printed (hydra.sweep.dir)")
    jobs = [job for path in sorted(sweep_dir.glob("**/.hydra")) if (job := read_job(path.parent))]
    if not jobs:
        raise HddmError(
            f"no Hydra job folders (with .hydra/overrides.yaml) under {sweep_dir}: is it a multirun's sweep folder?"
        )
    return jobs


def swept_keys(jobs: list[dict]) -> list[str]:
    """Settings that differ between jobs (constant overrides are context, not columns)."""
    keys = sorted({k for job in jobs for k in job["settings"]})
    return [k for k in keys if len({str(job["settings"].get(k)) for job in jobs}) > 1]


def uncertainty_keys(jobs: list[dict], metric: str) -> list[str]:
    """The result numbers that hold metric's uncertainty in any job (e.g. diversity.std for diversity.mean)."""
    keys = {key for job in jobs if metric in job["uncertainty"] for key in job["uncertainty"][metric].keys}
    return sorted(keys)


def varies(jobs: list[dict], metric: str) -> bool:
    return len({job["metrics"][metric] for job in jobs if metric in job["metrics"]}) > 1


def write_tables(jobs: list[dict], columns: list[str], metrics: list[str], out: Path) -> None:
    """report.csv: every number as recorded, a metric's uncertainty columns after it; report.md: one cell per
    metric, "value ± std" or "value [low, high]"."""
    numbers = [key for metric in metrics for key in (metric, *uncertainty_keys(jobs, metric))]
    rows = [
        [job["settings"].get(c, "") for c in columns] + [job["state"]] + [job["metrics"].get(k, "") for k in numbers]
        for job in jobs
    ]
    with open(out / "report.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[*columns, "state", *numbers], *rows])

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    def metric_cell(job: dict, metric: str) -> str:
        if metric not in job["metrics"]:
            return ""
        spread = job["uncertainty"].get(metric)
        return cell(job["metrics"][metric]) + (f" {spread.text}" if spread else "")

    header = [*columns, "state", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for job in jobs:
        cells = [cell(job["settings"].get(c, "")) for c in columns] + [job["state"]]
        lines.append("| " + " | ".join(cells + [metric_cell(job, m) for m in metrics]) + " |")
    write_text(out / "report.md", "\n".join(lines) + "\n")


def report(sweep_dir: Path, out: Path | None = None, metrics: list[str] | None = None) -> dict:
    jobs = collect(sweep_dir)
    out = out or sweep_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    columns = swept_keys(jobs)
    numbers = sorted({m for job in jobs for m in job["metrics"]})
    attached = {key for job in jobs for spread in job["uncertainty"].values() for key in spread.keys}
    unknown = [m for m in metrics or [] if m not in numbers]
    if unknown:
        raise HddmError(f"metric {unknown[0]!r} is in no result under {sweep_dir}: choose from {numbers}")
    chosen = metrics or [m for m in numbers if m not in attached]  # uncertainties go with their metric
    write_tables(jobs, columns, chosen, out)
    plotted = [m for m in chosen if varies(jobs, m)]
    plots = [str(plot(jobs, columns, m, x, out)) for m in plotted for x in columns]
    return {
        "jobs": len(jobs),
        "done": sum(job["state"] == "done" for job in jobs),
        "failed": sum(job["state"] == "failed" for job in jobs),
        "columns": columns,
        "metrics": chosen,
        "plotted": plotted,
        "constant": [m for m in chosen if m not in plotted],
        "table": str(out / "report.md"),
        "csv": str(out / "report.csv"),
        "plots": plots,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hddm.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: <sweep_dir>/report")
    parser.add_argument("--metrics", nargs="+", default=None, help="default: every metric found")
    args = parser.parse_args(argv)
    try:
        summary = report(args.sweep_dir, args.out, args.metrics)
    except HddmError as error:
        print(f"hddm: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(
        f"hddm: {summary['jobs']} jobs: {summary['done']} done, {summary['failed']} failed, "
        f"{summary['jobs'] - summary['done'] - summary['failed']} running, stale or unreadable (no numbers shown); "
        f"swept {summary['columns']}\n"
        f"  table: {summary['table']}\n  csv:   {summary['csv']}\n  plots: {len(summary['plots'])} in "
        f"{Path(summary['table']).parent}"
        + (f"\n  not plotted (the same in every job): {', '.join(summary['constant'])}" if summary["constant"] else "")
    )


if __name__ == "__main__":
    main()
