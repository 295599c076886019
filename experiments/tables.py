"""What the experiments' table scripts share: reading a metric from results.json, keeping a run's small outputs
under experiments/, pasting a generated table into a README between `<!-- table <name> -->` markers, and comparing
the rows' rankings across training seeds."""

import re
import shutil
from pathlib import Path

from scipy.stats import kendalltau

KEPT = ("results.json", "results.md", "grid.png")
SEEDS = ("0", "1")  # the training seeds the both-seeds tables compare
HEADLINE = [("fid", "domain FID ↓", True), ("adherence", "adherence ↑", False), ("diversity", "diversity ↑", False)]


def metric(results: dict, prefix: str):
    """(value, std or None) of the first metric whose name starts with prefix, (None, None) if absent."""
    value = next((v for k, v in results["metrics"].items() if k.startswith(prefix)), None)
    return (value["mean"], value["std"]) if isinstance(value, dict) else (value, None)


def headline(results: dict) -> dict:
    """The HEADLINE metrics of one results.json: domain FID, prompt adherence, diversity (means)."""
    return {
        "fid": metric(results, "domain_fid")[0],
        "adherence": metric(results, "prompt_adherence")[0],
        "diversity": metric(results, "diversity")[0],
    }


def sampler_setting(results: list, key: str) -> str:
    """One sampler setting (solver, steps, cfg_scale) over a table's results: '25', or '25/50' when rows differ."""
    return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in sorted({r["sampler"][key] for r in results}))


def keep_run(run_dir: Path, kept_dir: Path) -> None:
    kept_dir.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (run_dir / name).is_file():
            shutil.copy(run_dir / name, kept_dir / name)


def paste_table(readme: Path, name: str, table: str) -> None:
    """Replace the previous paste between `<!-- table <name> -->` markers, or the placeholder TABLE_<NAME>."""
    block, text = f"<!-- table {name} -->\n{table}<!-- /table {name} -->", readme.read_text()
    pattern = re.compile(rf"<!-- table {name} -->.*?<!-- /table {name} -->", re.S)
    readme.write_text(
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.replace(f"TABLE_{name.upper()}", block)
    )


def seeds_table(rows_by_seed: dict, columns: list) -> str:
    """Markdown table of each row's metrics on every seed (rows_by_seed: {seed: {row: {key: value}}}, rows in
    order; columns: [(key, title, lower_is_better)]), then each metric's ranking per seed and whether the seeds agree.
    Only rows present on every seed are compared; the order agreement is that of the first two seeds."""
    seeds = list(rows_by_seed)
    names = [name for name in rows_by_seed[seeds[0]] if all(name in rows_by_seed[s] for s in seeds)]
    head = (
        "| row | "
        + " | ".join(f"{title} {label}" for _, title, _ in columns for label in [f"s{s}" for s in seeds] + ["mean"])
        + " |\n"
    )
    text = head + "|---" * (1 + len(columns) * (len(seeds) + 1)) + "|\n"
    for name in names:
        cells = []
        for key, _, _ in columns:
            values = [rows_by_seed[s][name][key] for s in seeds]
            cells += [f"{v:.4g}" for v in values] + [f"{sum(values) / len(values):.4g}"]
        text += f"| {name} | " + " | ".join(cells) + " |\n"
    text += "\n"
    for key, title, lower_is_better in columns:
        best = {s: (min if lower_is_better else max)(names, key=lambda n: rows_by_seed[s][n][key]) for s in seeds}
        agreement = kendalltau(*[[rows_by_seed[s][n][key] for n in names] for s in seeds[:2]]).statistic
        text += (
            f"- {title}: best row "
            + ", ".join(f"seed {s} {b}" for s, b in best.items())
            + f"; Kendall tau between the seeds' orders {agreement:.2f} (1 = the same order).\n"
        )
    return text
