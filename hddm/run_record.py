"""What a finished run folder's status records besides its config digest: the sha256 of every file the job wrote
(outputs) and of every bundle or file its config names (inputs). `Skip when done` and `hddm.report` trust a run only
while its outputs still match and its inputs are still the same.

Inputs are the config's string values that name an existing file, or a folder with a manifest.json (a bundle: its
manifest pins the weights' sha256, which loading checks); folders without a manifest (data caches, with their own
checksums) are not hashed. Files Hydra or the bookkeeping write (.hydra/, logs, status.json) and training
checkpoints are not outputs.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hddm.io import sha256_file

STATUS = "status.json"
NOT_OUTPUTS = (STATUS, "error.txt")
NOT_OUTPUT_FOLDERS = (".hydra", "checkpoints")  # checkpoints: resumable state, not results (and gigabytes at scale)


def is_output(relative: Path) -> bool:
    bookkeeping = relative.name in NOT_OUTPUTS or relative.suffix == ".log" or relative.parts[0] in NOT_OUTPUT_FOLDERS
    return not bookkeeping


def output_digests(run_dir: Path) -> dict[str, str]:
    """{relative path: sha256} of the files a job wrote into its run folder."""
    run_dir = Path(run_dir)
    return {
        path.relative_to(run_dir).as_posix(): sha256_file(path)
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and is_output(path.relative_to(run_dir))
    }


def changed_outputs(run_dir: Path, recorded: dict[str, str]) -> list[str]:
    """The recorded outputs that are missing or no longer match."""
    run_dir = Path(run_dir)
    return [
        name
        for name, digest in recorded.items()
        if not (run_dir / name).is_file() or sha256_file(run_dir / name) != digest
    ]


def strings(tree) -> list[str]:
    if isinstance(tree, dict):
        return [s for value in tree.values() for s in strings(value)]
    if isinstance(tree, list):
        return [s for value in tree for s in strings(value)]
    return [tree] if isinstance(tree, str) else []


def input_digests(cfg: DictConfig, run_dir: Path) -> dict[str, str]:
    """{path as written in the config: sha256} of the files and bundles the config names, outside the run folder."""
    try:
        values = strings(OmegaConf.to_container(cfg, resolve=True))
    except Exception:  # a broken value: the job reports it in one line; nothing can be named as an input
        return {}
    run_dir, digests = Path(run_dir).resolve(), {}
    for value in sorted(set(values)):
        if not value or "\n" in value or len(value) > 4096:
            continue
        path = Path(value).expanduser()
        try:
            inside = path.resolve().is_relative_to(run_dir)
            manifest = path / "manifest.json"
            if not inside and path.is_dir() and manifest.is_file():
                digests[value] = sha256_file(manifest)
            elif not inside and path.is_file():
                digests[value] = sha256_file(path)
        except OSError:  # a value that is not a readable path
            continue
    return digests


def changed_inputs(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    return sorted(name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name))
