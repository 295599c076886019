"""What the experiments' table scripts share: reading a metric from results.json, keeping a run's small outputs
under experiments/, and pasting a generated table into a README between `<!-- table s<SEED> -->` markers."""
import re
import shutil
from pathlib import Path

KEPT = ("results.json", "results.md", "grid.png")


def metric(results: dict, prefix: str):
    """(value, std or None) of the first metric whose name starts with prefix, (None, None) if absent."""
    value = next((v for k, v in results["metrics"].items() if k.startswith(prefix)), None)
    return (value["mean"], value["std"]) if isinstance(value, dict) else (value, None)


def keep_run(run_dir: Path, kept_dir: Path) -> None:
    kept_dir.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (run_dir / name).is_file():
            shutil.copy(run_dir / name, kept_dir / name)


def paste_table(readme: Path, seed: str, table: str) -> None:
    """Replace the previous paste between the seed's markers, or the placeholder TABLE_S<seed>."""
    block, text = f"<!-- table s{seed} -->\n{table}<!-- /table s{seed} -->", readme.read_text()
    pattern = re.compile(rf"<!-- table s{seed} -->.*?<!-- /table s{seed} -->", re.S)
    readme.write_text(pattern.sub(lambda _: block, text) if pattern.search(text) else text.replace(f"TABLE_S{seed}", block))
