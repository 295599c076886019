"""Routing from what each expert bundle brings (hddm.train_head): no router trained on everyone's data.

An ensemble grows by adding a bundle: its density-ratio heads and centroids join the others' unchanged. The
members must agree on what makes their numbers comparable: one reference set and noising for the heads (each
logit is a ratio against the same p_ref), one feature extractor for the centroids.
"""

from __future__ import annotations

import torch

from hddm.data.features import ColourQuantiles, PixelFeatures
from hddm.diffusion.schedules import Schedule
from hddm.ensemble.members import Expert, load_routing_info
from hddm.errors import HddmError
from hddm.models.dit import DiTConfig
from hddm.models.router import Router
from hddm.routing.scores import ROUTER_NOISING, CentroidScores, DensityRatioScores

HEAD_KINDS = ("blind", "text")  # the papers' inputs (x_t, t), and the text-aware variant that also reads the prompt
TRAJECTORY_EXTRACTORS = {ColourQuantiles.extractor_id: ColourQuantiles, PixelFeatures().extractor_id: PixelFeatures}


def agreed(manifests: list[dict], key: str, what: str):
    values = {repr(m.get(key)) for m in manifests}
    if len(values) > 1:
        raise HddmError(f"the experts' routing information disagrees on {key} ({', '.join(sorted(values))}): {what}")
    return manifests[0].get(key)


def load_all(experts: list[Expert], paths: list[str]) -> list[tuple[dict, dict]]:
    infos = [load_routing_info(expert, path) for expert, path in zip(experts, paths)]
    clusters = [m["cluster"] for _, m in infos]
    if len(set(clusters)) != len(clusters):
        raise HddmError(
            f"two experts bring routing information for the same cluster ({clusters}): list each cluster once"
        )
    return infos


def density_ratio_scores(experts: list[Expert], paths: list[str], text_aware: bool) -> DensityRatioScores:
    infos = load_all(experts, paths)
    manifests = [m for _, m in infos]
    agreed(manifests, "reference", "train every head against the same reference set")
    if agreed(manifests, "noising", "train every head with one noising") != ROUTER_NOISING:
        raise HddmError(f"the heads learned another noising than {ROUTER_NOISING!r}: retrain them (hddm.train_head)")
    time_scale = agreed(manifests, "time_scale", "train every head with one time scale")
    kind = "text" if text_aware else "blind"
    heads = []
    for (state, manifest), path in zip(infos, paths):
        if kind not in manifest["heads"]:
            raise HddmError(
                f"{path} brings no {kind} density-ratio head: retrain it with python -m hddm.train_head "
                f"expert={path}" + (" (or set routing.text_aware=false)" if text_aware else "")
            )
        spec, data = manifest["heads"][kind], manifest["data"]
        size = DiTConfig(**{name: spec[name] for name in ("hidden_size", "depth", "num_heads", "patch_size")})
        head = Router(size, data["channels"], data["image_size"], 1, spec.get("text_dim"))
        head.load_state_dict({n[len(f"head.{kind}.") :]: v for n, v in state.items() if n.startswith(f"head.{kind}.")})
        heads.append(head.eval().requires_grad_(False))
    sizes = torch.tensor([float(m["num_samples"]) for m in manifests])
    return DensityRatioScores(heads, (sizes / sizes.sum()).log(), time_scale, text_aware)


def centroid_scores(experts: list[Expert], paths: list[str], path: Schedule, every: int) -> CentroidScores:
    if every < 1:
        raise HddmError(f"routing.centroid_every must be >= 1, not {every}")
    infos = load_all(experts, paths)
    extractor = agreed([m["centroids"] for _, m in infos], "features", "compute every expert's centroids in one space")
    if extractor not in TRAJECTORY_EXTRACTORS:
        raise HddmError(
            f"centroid routing embeds the sampled state each step, which hddm does for "
            f"{sorted(TRAJECTORY_EXTRACTORS)}, not {extractor}: use routing.router=density_ratio"
        )
    if experts[0].manifest["data"]["space"] != "pixel":
        raise HddmError(
            "centroid routing embeds the sampled state in pixel space: use routing.router=density_ratio for latent "
            "experts"
        )
    return CentroidScores([state["centroids"] for state, _ in infos], TRAJECTORY_EXTRACTORS[extractor](), path, every)
