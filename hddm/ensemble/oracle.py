"""Oracle routing, a reference the papers lack: every sample goes, at every step, to the expert of the cluster that
holds most training items of the domain its prompt names, whatever x_t looks like. It tells how much a router loses
by reading only the noisy image. Styled digits only: the embedded data whose items carry domain labels.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hddm.data.partition import load_partition
from hddm.data.styled_digits import domain_cluster_counts, prompted_domain
from hddm.ensemble.members import Expert
from hddm.errors import HddmError
from hddm.io import sha256_file


def partition_file(experts: list[Expert], cache_dir: str) -> Path:
    """The assignment file the experts were trained on: the one in the cache whose sha256 their manifests record."""
    wanted = experts[0].manifest["partition"]["sha256"]
    folder = Path(cache_dir).expanduser() / "partitions"
    for path in sorted(folder.glob("*.safetensors")):
        if sha256_file(path) == wanted:
            return path
    raise HddmError(
        f"routing.router=oracle needs the experts' partition file (sha256 {wanted[:12]}...), not found in {folder}: "
        "run hddm.prepare with the experts' settings, or set cache_dir"
    )


def oracle_routing(experts: list[Expert], cache_dir: str):
    """prompts -> [B] index of each prompt's expert among `experts`."""
    if experts[0].manifest["data"]["name"] != "styled_digits":
        raise HddmError("routing.router=oracle needs domain labels: only data=styled_digits has them")
    counts, names = domain_cluster_counts(
        cache_dir, load_partition(partition_file(experts, cache_dir)).assignment.numpy()
    )
    by_cluster = {e.manifest["cluster"]: i for i, e in enumerate(experts)}
    majority = counts.argmax(1)  # each domain's cluster
    expert_of = {name: by_cluster[int(c)] for name, c in zip(names, majority) if int(c) in by_cluster}

    def choose(prompts: list[str]) -> torch.Tensor:
        domains = [prompted_domain(p) for p in prompts]
        missing = sorted({str(d) for d in domains if d not in expert_of})
        if missing:
            raise HddmError(
                f"routing.router=oracle: no expert holds the domain(s) {', '.join(missing)} of the prompts "
                "(None: a prompt names no domain): give prompts naming the experts' domains"
            )
        return torch.tensor([expert_of[d] for d in domains])

    return choose
