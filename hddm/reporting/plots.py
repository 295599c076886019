"""A sweep's plot of one metric against one swept setting, with error bars where the results record an
uncertainty."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from hddm.io import atomic_write
from hddm.reporting.uncertainty import Uncertainty


class Point(NamedTuple):
    x: float | str
    y: float
    uncertainty: Uncertainty | None


def error_bars(points: list[Point]) -> np.ndarray | None:
    """[2, N] distances below and above each value (NaN: none recorded, no bar); None when no point has one."""
    if all(p.uncertainty is None for p in points):
        return None
    return np.array(
        [
            [p.y - p.uncertainty.low if p.uncertainty else np.nan for p in points],
            [p.uncertainty.high - p.y if p.uncertainty else np.nan for p in points],
        ]
    )


def draw(axes, groups: dict[str, list[Point]]) -> None:
    """One line per group over a numeric x, grouped bars over a categorical one; error bars where recorded."""
    if all(isinstance(p.x, float) for points in groups.values() for p in points):
        for label, points in groups.items():
            points = sorted(points, key=lambda p: p.x)
            axes.errorbar(
                [p.x for p in points],
                [p.y for p in points],
                yerr=error_bars(points),
                marker="o",
                capsize=3,
                label=label,
            )
        return
    categories = sorted({str(p.x) for points in groups.values() for p in points})
    width = 0.8 / max(len(groups), 1)
    for i, (label, points) in enumerate(groups.items()):
        by_category = {str(p.x): p for p in points}
        shown = [by_category.get(c, Point(c, 0.0, None)) for c in categories]
        axes.bar(
            [c + i * width for c in range(len(categories))],
            [p.y for p in shown],
            width=width,
            yerr=error_bars(shown),
            capsize=3,
            label=label,
        )
    axes.set_xticks([c + width * (len(groups) - 1) / 2 for c in range(len(categories))], categories)


def series(jobs: list[dict], columns: list[str], metric: str, x_key: str) -> dict[str, list[Point]]:
    """The metric's points against x_key, one series per combination of the other swept settings."""
    others = [c for c in columns if c != x_key]
    groups: dict[str, list[Point]] = {}
    for job in jobs:
        if metric in job["metrics"]:
            label = ", ".join(f"{k}={job['settings'].get(k)}" for k in others) or metric
            point = Point(job["settings"].get(x_key), job["metrics"][metric], job["uncertainty"].get(metric))
            groups.setdefault(label, []).append(point)
    return groups


def plot(jobs: list[dict], columns: list[str], metric: str, x_key: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = series(jobs, columns, metric, x_key)
    figure, axes = plt.subplots(figsize=(6, 4))
    draw(axes, groups)
    axes.set_xlabel(x_key)
    axes.set_ylabel(metric)
    if len(groups) > 1:
        axes.legend(fontsize=7)
    figure.tight_layout()
    path = out / f"{metric.replace('/', '_')}_vs_{x_key.replace('/', '_')}.png"
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
    return path
