"""The ensemble's members as loaded from their bundles, for contributors who never coordinate.

An expert's manifest says everything needed to use its weights without the code that trained them
(objective, prediction type, schedule, time scaling, cluster, data space and shape, text encoder, model
size); a router's says its clusters, inputs and time scale. An ensemble is refused when its members disagree on
what they model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hddm.bundles import EXPERT_FORMAT, ROUTER_FORMAT, ROUTING_DIR, ROUTING_FORMAT, load_bundle
from hddm.diffusion.objectives import PREDICTION_OF, Objective, make_objective
from hddm.diffusion.schedules import get_schedule
from hddm.errors import HddmError
from hddm.models.dit import DiT, DiTConfig
from hddm.models.router import Router

SHARED_FIELDS = ("space", "channels", "image_size")  # what every member of an ensemble must agree on
EXPERT_FIELDS = ("objective", "prediction", "schedule", "time_scale", "cluster", "partition", "data", "model")


def check_expert_manifest(manifest: dict, state: dict, directory) -> None:
    """The fields that decide the maths agree with each other and with the weights."""
    missing = [key for key in (*EXPERT_FIELDS, "text_dim", "text_encoder") if key not in manifest]
    missing += [key for key in ("null_text", "null_mask") if key not in state]
    if missing:
        raise HddmError(f"{directory} lacks {', '.join(missing)}: re-export the bundle with this hddm")
    objective, prediction = manifest["objective"], manifest["prediction"]
    if PREDICTION_OF.get(objective) != prediction:
        raise HddmError(
            f"{directory}: objective {objective!r} with prediction {prediction!r} is no objective hddm trains "
            f"({', '.join(f'{o}: {p}' for o, p in PREDICTION_OF.items())}): re-export the bundle"
        )
    cluster, clusters = manifest["cluster"], manifest["partition"].get("num_clusters")
    if not (isinstance(cluster, int) and isinstance(clusters, int) and 0 <= cluster < clusters):
        raise HddmError(
            f"{directory}: cluster {cluster!r} is not one of its partition's {clusters!r} clusters: re-export it"
        )
    if not isinstance(manifest["time_scale"], (int, float)) or not manifest["time_scale"] > 0:
        raise HddmError(f"{directory}: time_scale {manifest['time_scale']!r} must be a positive number: re-export")


def model_size(manifest: dict) -> DiTConfig:
    fields = {k: v for k, v in manifest["model"].items() if k != "name"}
    return DiTConfig(**fields)


def load_state(module: torch.nn.Module, state: dict, prefix: str, directory) -> None:
    own = {name[len(prefix) :]: value for name, value in state.items() if name.startswith(prefix)}
    try:
        module.load_state_dict(own)
    except RuntimeError as error:
        raise HddmError(
            f"{directory}: weights do not fit the model in its manifest ({str(error).splitlines()[0]})"
        ) from None


@dataclass
class Expert:
    network: DiT  # raw backbone: network(x, t_model, text, mask) -> epsilon or velocity
    objective: Objective
    null_text: torch.Tensor  # [L, D], the empty prompt's embedding (CFG)
    null_mask: torch.Tensor
    manifest: dict


def expert_name(manifest: dict) -> str:
    """How records and reports name an ensemble member: c<cluster>_<objective>."""
    return f"c{manifest['cluster']}_{manifest['objective']}"


def load_expert(directory) -> Expert:
    state, manifest = load_bundle(directory, EXPERT_FORMAT)
    check_expert_manifest(manifest, state, directory)
    data = manifest["data"]
    network = DiT(model_size(manifest), data["channels"], data["image_size"], manifest["text_dim"])
    load_state(network, state, "model.", directory)
    objective = make_objective(manifest["prediction"], get_schedule(manifest["schedule"]), manifest["time_scale"])
    return Expert(network.eval().requires_grad_(False), objective, state["null_text"], state["null_mask"], manifest)


def load_router(directory) -> tuple[Router, dict]:
    state, manifest = load_bundle(directory, ROUTER_FORMAT)
    data = manifest["data"]
    router = Router(
        model_size(manifest), data["channels"], data["image_size"], manifest["num_clusters"], manifest.get("text_dim")
    )
    load_state(router, state, "model.", directory)
    return router.eval().requires_grad_(False), manifest


def load_routing_info(expert: Expert, expert_dir) -> tuple[dict[str, torch.Tensor], dict]:
    """The routing information an expert brings (density-ratio heads, cluster centroids), bound to its weights."""
    directory = Path(expert_dir) / ROUTING_DIR
    if not directory.is_dir():
        raise HddmError(
            f"{expert_dir} carries no routing information ({ROUTING_DIR}/): train it with "
            f"python -m hddm.train_head expert={expert_dir}, or use routing.router=trained"
        )
    state, manifest = load_bundle(directory, ROUTING_FORMAT)
    if manifest.get("expert_weights_sha256") != expert.manifest["weights_sha256"]:
        raise HddmError(
            f"{directory} was trained for other expert weights: retrain it with python -m hddm.train_head "
            f"expert={expert_dir}"
        )
    return state, manifest


def check_compatible(experts: list[Expert], router_manifest: dict | None) -> None:
    """One-line refusal naming the first field on which the ensemble's members disagree."""
    reference = experts[0].manifest
    members = [(e.manifest, "expert") for e in experts[1:]] + ([(router_manifest, "router")] if router_manifest else [])
    weights = [e.manifest["weights_sha256"] for e in experts]
    if len(set(weights)) < len(weights):
        raise HddmError("ensemble.experts lists the same expert (the same weights) twice: list each expert once")
    for manifest, role in members:
        if role == "expert" and manifest["partition"].get("sha256") != reference["partition"].get("sha256"):
            raise HddmError(
                f"experts were trained on different partitions ({manifest['partition'].get('name')} vs "
                f"{reference['partition'].get('name')}, sha256 differs): an ensemble's experts share one partition"
            )
        for name in SHARED_FIELDS:
            if manifest["data"][name] != reference["data"][name]:
                raise HddmError(
                    f"{role} has data.{name}={manifest['data'][name]!r}, the first expert "
                    f"{reference['data'][name]!r}: an ensemble must model one data space"
                )
        if role == "expert" and manifest["text_encoder"] != reference["text_encoder"]:
            raise HddmError(
                f"experts disagree on text_encoder ({manifest['text_encoder']} vs {reference['text_encoder']}): "
                "use experts trained with one text encoder"
            )
        if role == "router" and manifest.get("text_encoder") not in (None, reference["text_encoder"]):
            raise HddmError(
                f"the text-aware router uses text_encoder {manifest['text_encoder']}, the experts "
                f"{reference['text_encoder']}: retrain the router with the experts' encoder"
            )
        if role == "router" and manifest["partition"]["sha256"] != reference["partition"]["sha256"]:
            raise HddmError(
                "the router was trained on another partition than the experts (partition.sha256 differs): retrain it"
            )
