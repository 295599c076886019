"""The ensemble config a set of training jobs adds up to, written as they finish: `ensemble=<data>_<partition>`.

Every finished hddm.train job records its expert bundle under its cluster, every finished hddm.train_router job
its router, in <runs>/conf/ensemble/<data>_<partition>.members.json, for run folders <runs>/experts/<run> and
<runs>/routers/<run> (the default layout; runs placed elsewhere by hydra.run.dir are not recorded). The newest
bundle of each cluster wins; an expert of a re-clustered partition (another sha256) starts the record afresh.
Once every cluster has an expert, <data>_<partition>.yaml is (re)written beside it, and sample, evaluate and
analyze find runs/conf/ensemble through their Hydra search path, so `python -m hddm.evaluate
ensemble=shapes_kmeans2` needs no hand-typed list of folders. The read-modify-write holds a file lock: two jobs
finishing together both land.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path

import yaml

from hddm.io import write_json, write_text

LAYOUT = ("experts", "routers")  # <runs>/<one of these>/<run>: where train and train_router put their runs


def configs_folder(run_dir: Path) -> Path | None:
    """runs/experts/<run> -> runs/conf/ensemble (hydra.searchpath file://runs/conf in sample, evaluate, analyze);
    None for a run folder outside the default layout."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent.parent / "conf" / "ensemble" if run_dir.parent.name in LAYOUT else None


def ensemble_name(manifest: dict) -> str:
    return f"{manifest['data']['name']}_{manifest['partition']['name']}"


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read_members(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def as_written(bundle: Path) -> str:
    """Relative to the working folder where it lies inside it (as the shipped ensemble configs), else absolute."""
    bundle = Path(bundle).resolve()
    return str(bundle.relative_to(Path.cwd())) if bundle.is_relative_to(Path.cwd()) else str(bundle)


def record_bundle(bundle: Path, manifest: dict) -> str:
    """Record a finished expert (manifest has a cluster) or router bundle, <run folder>/expert or /router; returns
    a line saying what stands."""
    folder = configs_folder(Path(bundle).parent)
    if folder is None:
        return "ensemble config: not recorded (the run folder is not <runs>/experts/<run> or <runs>/routers/<run>)"
    name, bundle = ensemble_name(manifest), as_written(bundle)
    members_path = folder / f"{name}.members.json"
    partition = manifest["partition"]
    with locked(members_path):
        members = read_members(members_path)
        if members.get("partition_sha256") != partition["sha256"]:
            members = {"partition_sha256": partition["sha256"], "num_clusters": partition["num_clusters"]}
        if "cluster" in manifest:
            members.setdefault("experts", {})[str(manifest["cluster"])] = bundle
        else:
            members["router"] = bundle
        write_json(members_path, members)
        experts = members.get("experts", {})
        missing = [c for c in range(members["num_clusters"]) if str(c) not in experts]
        if missing:
            trained = f"{len(experts)} of {members['num_clusters']} clusters"
            return f"ensemble {name}: {trained} trained (next: cluster={missing[0]})"
        config = {
            "name": name,
            "experts": [experts[str(c)] for c in range(members["num_clusters"])],
            "router": members.get("router"),
        }
        header = (
            f"# Written by hddm.train / hddm.train_router as their jobs finished: the newest expert of each cluster of "
            f"data={manifest['data']['name']} partition {partition['name']} (sha256 {partition['sha256'][:12]})\n"
        )
        write_text(folder / f"{name}.yaml", header + yaml.safe_dump(config, sort_keys=False))
    router = "" if config["router"] else " (no router yet: threshold routing only, or train one)"
    return f"ensemble {name} complete{router}: python -m hddm.evaluate ensemble={name}"
