"""Sample a routed heterogeneous ensemble:
`python -m hddm.sample ensemble=demo routing=top2 prompt="a handwritten digit seven" n=16`.

Loads the expert and router bundles (hash-checked, compatibility-checked), routes every step, converts every
expert to velocity, integrates with Euler or Heun and CFG, and writes grid.png plus record.json with every
setting used, the members' hashes and the expert usage.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.progress import MofNCompleteColumn, Progress
from torchvision.utils import save_image

from hddm import __version__
from hddm.bundles import Expert, check_compatible, expert_name, load_expert, load_router
from hddm.config import SampleRunConfig, TextConfig, register_configs, to_typed
from hddm.data.latents import VAEDecoder
from hddm.diffusion.conversion import Conversion, Safeguards
from hddm.diffusion.schedules import get_schedule
from hddm.diffusion.objectives import Prediction
from hddm.diffusion.solvers import SOLVERS
from hddm.errors import HddmError
from hddm.io import write_json
from hddm.lit.data import prompt_embeddings
from hddm.jobs import run_cli
from hddm.metrics.adherence import mnist_prompt_adherence
from hddm.metrics.styled import styled_adherence
from hddm.models.moe_accounting import CapacityMeter, set_moe_inference
from hddm.routing.contributed import centroid_scores, density_ratio_scores
from hddm.routing.ensemble import EnsembleField, UsageStats
from hddm.routing.scores import TrainedRouterScores
from hddm.routing.strategies import ROUTING_FIELDS, Routing, check_routing, needs_router
from hddm.sampling import sample_expert

SOLVER_NAMES = (*SOLVERS, "ddim")  # ddim: the native sampler of a lone DDPM expert (the conversion's baseline)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def chosen_prompts(cfg: SampleRunConfig) -> list[str]:
    prompts = given_prompts(cfg)
    if not prompts:
        raise HddmError('no prompt: add prompt="a handwritten digit seven" (or prompts=[...], or prompts_file=...)')
    return [prompts[i % len(prompts)] for i in range(cfg.n)]


def check_solver(solver: str, experts: list[Expert]) -> None:
    if solver not in SOLVER_NAMES:
        raise HddmError(f"solver must be one of {list(SOLVER_NAMES)}, not {solver!r}")
    if solver == "ddim" and (len(experts) != 1 or experts[0].objective.prediction is not Prediction.EPSILON):
        raise HddmError("solver=ddim is the native sampler of one DDPM expert: list exactly one DDPM expert in "
                        "ensemble.experts, or use solver=euler|heun")


ROUTING_SOURCES = ("trained", "density_ratio", "centroid")


def routing_scores(cfg: SampleRunConfig, experts: list[Expert], conversion: Conversion):
    """(the routing logits' source, the trained router's manifest or None) for the configured routing.router."""
    source = cfg.routing.router
    if source not in ROUTING_SOURCES:
        raise HddmError(f"unknown routing.router {source!r}: choose one of {list(ROUTING_SOURCES)}")
    if source == "density_ratio":
        return density_ratio_scores(experts, cfg.ensemble.experts, cfg.routing.text_aware), None
    if source == "centroid":
        return centroid_scores(experts, cfg.ensemble.experts, conversion.path, cfg.routing.centroid_every), None
    if not cfg.ensemble.router:
        raise HddmError(f"routing={cfg.routing.strategy} needs a router: set ensemble.router=<router bundle folder>, "
                        "or routing.router=density_ratio|centroid")
    router, manifest = load_router(cfg.ensemble.router)
    clusters = [e.manifest["cluster"] for e in experts]
    if not all(0 <= c < manifest["num_clusters"] for c in clusters):
        raise HddmError(f"the router scores clusters 0..{manifest['num_clusters'] - 1}, the experts are of clusters {clusters}: "
                        "use a router trained on the experts' partition, or routing.router=density_ratio")
    return TrainedRouterScores(router, clusters, manifest["time_scale"]), manifest


def build_field_factory(cfg: SampleRunConfig, device: torch.device):
    """Load and check the members once; return (make_field(text, mask, seed, usage), experts, router manifest)."""
    experts = [load_expert(path) for path in cfg.ensemble.experts]
    check_solver(cfg.solver, experts)
    routed = cfg.solver != "ddim"  # DDIM integrates its lone expert natively: no routing, no velocity
    safeguards = Safeguards(**asdict(cfg.conversion.safeguards))
    conversion = Conversion(cfg.conversion.mode, get_schedule(cfg.conversion.path), safeguards)
    if conversion.mode not in ("paper", "snr_matched"):
        raise HddmError(f"conversion.mode must be 'paper' or 'snr_matched', not {conversion.mode!r}")
    scores, router_manifest = None, None
    if routed and needs_router(cfg.routing.strategy, len(experts)):
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

    def make_field(text, mask, seed, usage):
        return EnsembleField(experts, scores, routing, conversion, text, mask, cfg.cfg_scale, cfg.offload, seed, usage)

    return make_field, experts, router_manifest


def draw(cfg: SampleRunConfig, make_field, experts: list[Expert], text, mask, noise, seed: int, usage: UsageStats,
         on_step=None) -> torch.Tensor:
    """One batch of samples: the routed field integrated by Euler/Heun, or a lone DDPM expert's native DDIM."""
    if cfg.solver == "ddim":
        usage.update(torch.ones(len(noise) * cfg.steps, 1), None)  # one (sample, step) pair per network evaluation, as routed
        conversion = Conversion(safeguards=Safeguards(**asdict(cfg.conversion.safeguards)))  # x0_hat clamp and alpha_safe
        images = sample_expert(experts[0], text, mask, noise, cfg.steps, cfg.cfg_scale, "ddim", conversion)
        if on_step:
            on_step(cfg.steps)
        return images
    field = make_field(text, mask, seed, usage)

    def counted(x, t):
        on_step(1)
        return field(x, t)

    return SOLVERS[cfg.solver](counted if on_step else field, noise, cfg.steps)


@torch.no_grad()
def sample(dict_cfg: DictConfig, run_dir: Path) -> dict:
    cfg: SampleRunConfig = to_typed(dict_cfg)
    device = resolve_device(cfg.device)
    prompts = chosen_prompts(cfg)
    make_field, experts, router_manifest = build_field_factory(cfg, device)
    first = experts[0].manifest
    text = TextConfig(name=first["text"]["name"], kwargs=first["text"]["kwargs"])
    tokens, mask = prompt_embeddings(prompts, text, cfg.cache_dir)
    data = first["data"]
    noise = torch.randn((cfg.n, data["channels"], data["image_size"], data["image_size"]),
                        generator=torch.Generator().manual_seed(cfg.seed))
    images, usage = [], UsageStats(len(experts))
    meters = [CapacityMeter(e.network) for e in experts]  # MoE experts: C_infer of every network evaluation
    evaluations_per_batch = cfg.steps * (2 if cfg.solver == "heun" else 1)
    started = time.time()
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=True) as progress:
        task = progress.add_task("sampling", total=evaluations_per_batch * -(-cfg.n // cfg.batch_size))
        for start in range(0, cfg.n, cfg.batch_size):
            rows = slice(start, start + cfg.batch_size)
            images.append(draw(cfg, make_field, experts, tokens[rows].to(device), mask[rows].to(device), noise[rows].to(device),
                               cfg.seed + start, usage, on_step=lambda n: progress.advance(task, n)).cpu())
    seconds = time.time() - started
    images = torch.cat(images)
    names = [expert_name(e.manifest) for e in experts]
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(images, run_dir / "samples.pt")  # what the experts generate: pixels, or latents
    if data["space"] == "latent" and cfg.vae.pretrained:
        decoder = VAEDecoder(cfg.vae.pretrained, device, cfg.vae.precision, cfg.vae.scale_factor, data["scale_factor"])
        images = torch.cat([decoder(chunk).cpu() for chunk in images.split(cfg.batch_size)])
    grid = run_dir / "grid.png" if images.shape[1] in (1, 3) else None  # latents without vae.pretrained: no picture
    if grid:
        save_image((images.clamp(-1, 1) + 1) / 2, grid, nrow=min(cfg.grid_columns, cfg.n))
    record = {
        "settings": asdict(cfg), "prompts": sorted(set(prompts), key=prompts.index), "n": cfg.n,
        "experts": [{"path": p, "cluster": e.manifest["cluster"], "objective": e.manifest["objective"],
                     "schedule": e.manifest["schedule"], "weights_sha256": e.manifest["weights_sha256"]}
                    for p, e in zip(cfg.ensemble.experts, experts)],
        "router": None if router_manifest is None else {"path": cfg.ensemble.router, "weights_sha256": router_manifest["weights_sha256"]},
        "usage": {**usage.summary(names), "routing_share_of_time": round(usage.routing_seconds / seconds, 4)},
        "seconds": round(seconds, 2), "images_per_second": round(cfg.n / seconds, 3),
        "device": str(device), "hddm_version": __version__, "outputs": {"grid": grid and str(grid),
                                                                           "samples": str(run_dir / "samples.pt")},
    }
    capacity = {name: summary for name, meter in zip(names, meters) if (summary := meter.summary())}
    if capacity:
        record["c_infer"] = capacity
    if data["name"] == "mnist":
        record["metrics"] = {"prompt_adherence": mnist_prompt_adherence(images, prompts, cfg.cache_dir)}
    elif data["name"] == "styled_digits":
        record["metrics"] = {"prompt_adherence": styled_adherence(images, prompts)}
    write_json(run_dir / "record.json", record)
    print(f"hddm: {cfg.n} samples from {len(experts)} experts ({cfg.routing.strategy}, {cfg.conversion.mode}) in {seconds:.1f} s"
          f"\n  grid:   {grid or 'none (latents: set vae.pretrained=<VAE> to decode them)'}\n  record: {run_dir / 'record.json'}\n  usage:  {record['usage']['share_of_steps']}"
          f"\n  metrics: {record.get('metrics')}")
    return record


register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: sample(cfg, Path(HydraConfig.get().runtime.output_dir)), cfg)


if __name__ == "__main__":
    main()
