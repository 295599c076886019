"""The one sampling path: load and check an ensemble's members once, then draw batches of samples from it.

Every command that samples (hddm.sample, hddm.evaluate, the analyses) goes through build_field_factory and draw,
and takes its starting noise from sample_noise, so the same seed, prompts and settings give the same images.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hddm.config import SampleRunConfig
from hddm.data.embedded import EMBEDDED
from hddm.data.mnist import digit_prompt
from hddm.diffusion.conversion import Conversion, Safeguards
from hddm.diffusion.objectives import Prediction
from hddm.diffusion.schedules import get_schedule
from hddm.diffusion.solvers import NATIVE_SOLVERS, SOLVERS
from hddm.ensemble.contributed import centroid_scores, density_ratio_scores
from hddm.ensemble.field import EnsembleField, UsageStats
from hddm.ensemble.guidance import sample_expert
from hddm.ensemble.members import Expert, check_compatible, load_expert, load_router
from hddm.ensemble.oracle import oracle_routing
from hddm.errors import HddmError
from hddm.models.moe_accounting import set_moe_inference
from hddm.routing.scores import ROUTER_NOISING, ChosenExpertScores, TrainedRouterScores
from hddm.routing.strategies import ROUTING_FIELDS, Routing, check_routing, needs_router


def prompts_from_file(path: str) -> list[str]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise HddmError(f"prompts_file {file} not found: give a text file with one prompt per line")
    prompts = [line.strip() for line in file.read_text().splitlines() if line.strip()]
    if not prompts:
        raise HddmError(f"prompts_file {file} holds no prompt: write one prompt per line")
    return prompts


def given_prompts(cfg: SampleRunConfig) -> list[str]:
    """The prompts of prompt=, prompts=[...] or prompts_file= (one of them), as given."""
    if sum([cfg.prompt is not None, bool(cfg.prompts), cfg.prompts_file is not None]) > 1:
        raise HddmError("give one of prompt=..., prompts=[...] or prompts_file=..., not several")
    if cfg.prompts_file is not None:
        return prompts_from_file(cfg.prompts_file)
    return [cfg.prompt] if cfg.prompt is not None else list(cfg.prompts or [])


def default_prompts(cfg: SampleRunConfig, data: dict) -> list[str]:
    """The given prompts, else one per class of the data the members model (their manifests' data record): the ten
    digits of the embedded data, or each class's most common caption in a labelled data=images set."""
    if prompts := given_prompts(cfg):
        return prompts
    if data["name"] in EMBEDDED:
        return [digit_prompt(d) for d in range(10)]
    if data.get("image_set") is not None:
        from hddm.data.image_set import class_captions, load_split

        if prompts := class_captions(load_split(data["image_set"], "trainval")):
            return list(prompts.values())
    raise HddmError('no prompt: add prompt="<what to draw>" (or prompts=[...], or prompts_file=<one per line>)')


def chosen_prompts(cfg: SampleRunConfig, data: dict) -> list[str]:
    """n prompts: the default prompts, cycled."""
    prompts = default_prompts(cfg, data)
    return [prompts[i % len(prompts)] for i in range(cfg.n)]


def check_solver(solver: str, experts: list[Expert]) -> None:
    if solver in NATIVE_SOLVERS and (len(experts) != 1 or experts[0].objective.prediction is not Prediction.epsilon):
        raise HddmError(
            f"solver={solver} is a native sampler of one DDPM expert: list exactly one DDPM expert in "
            "ensemble.experts, or use solver=euler|heun"
        )


def routing_scores(cfg: SampleRunConfig, experts: list[Expert], conversion: Conversion):
    """(the routing logits' source, the trained router's manifest or None) for the configured routing.router; the
    oracle's source is made per batch from its prompts (build_field_factory)."""
    source = cfg.routing.router
    if source == "density_ratio":
        return density_ratio_scores(experts, cfg.ensemble.experts, cfg.routing.text_aware), None
    if source == "centroid":
        return centroid_scores(experts, cfg.ensemble.experts, conversion.path, cfg.routing.centroid_every), None
    if not cfg.ensemble.router:
        raise HddmError(
            f"routing={cfg.routing.strategy} needs a router: set ensemble.router=<router bundle folder>, "
            "or routing.router=density_ratio|centroid"
        )
    router, manifest = load_router(cfg.ensemble.router)
    if manifest.get("noising") != ROUTER_NOISING:
        raise HddmError(
            f"{cfg.ensemble.router} was trained on noising {manifest.get('noising')!r}, the ensemble integrates "
            f"{ROUTER_NOISING!r}: retrain the router with this hddm (python -m hddm.train_router)"
        )
    clusters = [e.manifest["cluster"] for e in experts]
    if not all(0 <= c < manifest["num_clusters"] for c in clusters):
        raise HddmError(
            f"the router scores clusters 0..{manifest['num_clusters'] - 1}, the experts are of clusters {clusters}: "
            "use a router trained on the experts' partition, or routing.router=density_ratio"
        )
    return TrainedRouterScores(router, clusters, manifest["time_scale"]), manifest


def build_field_factory(cfg: SampleRunConfig, device: torch.device):
    """Load and check the members once; return (make_field(text, mask, seed, usage, prompts), experts, router
    manifest)."""
    if not cfg.ensemble.experts:
        raise HddmError("ensemble.experts is empty: list the expert bundle folders, ensemble.experts=[<folder>,...]")
    experts = [load_expert(path) for path in cfg.ensemble.experts]
    check_solver(cfg.solver, experts)
    routed = cfg.solver not in NATIVE_SOLVERS  # a native sampler integrates its lone expert: no routing, no velocity
    safeguards = Safeguards(**asdict(cfg.conversion.safeguards))
    conversion = Conversion(cfg.conversion.mode, get_schedule(cfg.conversion.path), safeguards)
    scores, router_manifest, oracle = None, None, None
    if routed and needs_router(cfg.routing.strategy, len(experts)):
        if cfg.routing.router == "oracle":
            oracle = oracle_routing(experts, cfg.cache_dir)
        else:
            scores, router_manifest = routing_scores(cfg, experts, conversion)
            scores.to(device)
    check_compatible(experts, router_manifest)
    routing = Routing(**{k: v for k, v in asdict(cfg.routing).items() if k in ROUTING_FIELDS})
    if routed:
        check_routing(routing, len(experts))
    for expert in experts:
        set_moe_inference(expert.network, cfg.moe.mode, cfg.moe.gamma, cfg.moe.capacity)
        expert.network.to("cpu" if cfg.offload else device)
        expert.null_text, expert.null_mask = expert.null_text.to(device), expert.null_mask.to(device)

    def make_field(text, mask, seed, usage, prompts):
        chosen = ChosenExpertScores(oracle(prompts), len(experts)) if oracle else scores
        return EnsembleField(experts, chosen, routing, conversion, text, mask, cfg.cfg_scale, cfg.offload, seed, usage)

    return make_field, experts, router_manifest


def draw(
    cfg: SampleRunConfig,
    make_field,
    experts: list[Expert],
    text,
    mask,
    noise,
    seed: int,
    usage: UsageStats,
    prompts: list[str],
    on_step=None,
) -> torch.Tensor:
    """One batch of samples: the routed field integrated by Euler/Heun, or a lone DDPM expert's native sampler."""
    images = integrate(cfg, make_field, experts, text, mask, noise, seed, usage, prompts, on_step)
    if not torch.isfinite(images).all():
        raise HddmError(
            "the samples hold NaN or infinite values (a diverging expert or settings such as cfg_scale or "
            "conversion.safeguards): nothing was written or scored"
        )
    return images


def integrate(cfg, make_field, experts, text, mask, noise, seed, usage, prompts, on_step) -> torch.Tensor:
    if cfg.solver in NATIVE_SOLVERS:
        usage.update(
            torch.ones(len(noise) * cfg.steps, 1), None
        )  # one (sample, step) pair per network evaluation, as routed
        conversion = Conversion(
            safeguards=Safeguards(**asdict(cfg.conversion.safeguards))
        )  # x0_hat clamp and alpha_safe
        images = sample_expert(
            experts[0], text, mask, noise, cfg.steps, cfg.cfg_scale, cfg.solver, conversion, step_noise(noise)
        )
        if on_step:
            on_step(cfg.steps)
        return images
    field = make_field(text, mask, seed, usage, prompts)

    def counted(x, t):
        on_step(1)
        return field(x, t)

    return SOLVERS[cfg.solver](counted if on_step else field, noise, cfg.steps)


def sample_noise(start: int, stop: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Each sample's noise from its own generator, keyed by (seed, index) through numpy's SeedSequence (128-bit
    state: no two samples share noise, unlike 32-bit seeds): independent of how samples are batched or sharded."""
    noise = [np.random.default_rng([seed, i]).standard_normal(shape, dtype=np.float32) for i in range(start, stop)]
    return torch.from_numpy(np.stack(noise))


def step_noise(start: torch.Tensor):
    """step -> [B, ...] fresh noise of the stochastic samplers' steps, from one generator per sample seeded by that
    sample's starting noise (itself keyed by seed and index): independent of batching, like sample_noise."""
    generators = [
        np.random.default_rng(int.from_bytes(hashlib.sha256(x.cpu().numpy().tobytes()).digest()[:16], "little"))
        for x in start
    ]

    def fresh(step: int) -> torch.Tensor:
        noise = [g.standard_normal(tuple(start.shape[1:]), dtype=np.float32) for g in generators]
        return torch.from_numpy(np.stack(noise)).to(start.device)

    return fresh
