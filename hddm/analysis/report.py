"""An analysis's outputs under the run directory: <name>.json (every number and setting), <name>.md (tables)
and PNG plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hddm.io import atomic_write, write_json, write_text  # noqa: E402


def protocol(module_doc: str) -> str:
    """An analysis module's first docstring paragraph, as one line: what it measures, for the tables' header."""
    return " ".join(module_doc.strip().split("\n\n")[0].split())


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def write_outputs(run_dir: Path, name: str, result: dict, tables: list[tuple[str, str]], figures: dict) -> dict:
    """tables: (title, markdown table); figures: file stem -> matplotlib figure. Returns the paths written."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": str(run_dir / f"{name}.json"), "markdown": str(run_dir / f"{name}.md")}
    for stem, figure in figures.items():
        atomic_write(
            run_dir / f"{stem}.png",
            lambda tmp, figure=figure: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"),
        )
        plt.close(figure)
        paths[stem] = str(run_dir / f"{stem}.png")
    result["outputs"] = paths
    write_json(run_dir / f"{name}.json", result)
    header = f"# {name}\n\n{result.get('protocol', '')}\n\nexpert evaluations: {result['expert_evaluations']}\n"
    write_text(run_dir / f"{name}.md", header + "".join(f"\n## {title}\n\n{table}\n" for title, table in tables))
    return paths
